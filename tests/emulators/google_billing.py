"""The Cloud Billing Catalog API v1 (``GET /v1/services/{service}/skus``), as google-cloud-billing's
``CloudCatalogClient`` calls it with ``transport="rest"``.

SKUs render with the documented fields (``category.resourceFamily/resourceGroup/usageType``,
``serviceRegions``, ``pricingInfo[].pricingExpression.tieredRates[].unitPrice`` as
units + nanos). ``currencyCode`` converts from USD at the emulator's rate (an unknown currency
answers 400); lists page with ``pageSize`` (capped at ``page_size``) and an opaque
``pageToken``/``nextPageToken``. Errors use Google's ``{"error": {code, message, status}}`` shape
so the client raises the matching ``google.api_core.exceptions`` class. Calls need a service
account's token (:mod:`tests.emulators.google_auth`).
"""

from __future__ import annotations

import base64
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from tests.emulators.google_auth import GoogleEmulator
from tests.emulators.http import HttpError, Reply, Request

COMPUTE_ENGINE = "6F81-5844-456A"
STATUS = {400: "INVALID_ARGUMENT", 404: "NOT_FOUND", 405: "METHOD_NOT_ALLOWED"}


def _error(code: int, message: str) -> HttpError:
    return HttpError(code, {"error": {"code": code, "message": message, "status": STATUS.get(code, "UNKNOWN")}})


def _money(amount: Decimal, currency: str) -> dict[str, Any]:
    units = int(amount)
    return {"currencyCode": currency, "units": str(units), "nanos": int((amount - units).scaleb(9).to_integral_value())}


@dataclass
class Sku:
    """One catalogue SKU with tiered USD prices: (start usage amount, unit price)."""

    sku_id: str
    description: str
    resource_family: str
    resource_group: str
    usage_type: str
    regions: list[str]
    usage_unit: str
    tiers: list[tuple[str, str]]

    def render(self, service: str, currency: str, rate: Decimal) -> dict[str, Any]:
        return {
            "name": f"services/{service}/skus/{self.sku_id}",
            "skuId": self.sku_id,
            "description": self.description,
            "category": {"serviceDisplayName": "Compute Engine", "resourceFamily": self.resource_family,
                         "resourceGroup": self.resource_group, "usageType": self.usage_type},
            "serviceRegions": self.regions,
            "serviceProviderName": "Google",
            "geoTaxonomy": {"type": "MULTI_REGIONAL" if len(self.regions) > 1 else "REGIONAL", "regions": self.regions},
            "pricingInfo": [{
                "summary": "",
                "effectiveTime": "2025-11-01T00:00:00Z",
                "currencyConversionRate": float(rate),
                "pricingExpression": {
                    "usageUnit": self.usage_unit, "usageUnitDescription": self.usage_unit,
                    "baseUnit": self.usage_unit, "baseUnitDescription": self.usage_unit,
                    "baseUnitConversionFactor": 1, "displayQuantity": 1,
                    "tieredRates": [
                        {"startUsageAmount": float(start), "unitPrice": _money(Decimal(price) * rate, currency)}
                        for start, price in self.tiers
                    ],
                },
            }],
        }  # fmt: skip


def machine_rate(sku_id: str, description: str, region: str, price: str, *, usage: str = "OnDemand") -> Sku:
    """A vCPU ("... Core ...", per hour) or memory ("... Ram ...", per GiB-hour) SKU."""
    ram = " Ram " in description or description.endswith(" Ram")
    return Sku(sku_id, description, "Compute", "RAM" if ram else "CPU", usage, [region],
               "GiBy.h" if ram else "h", [("0", price)])  # fmt: skip


class GoogleBillingEmulator(GoogleEmulator):
    def __init__(self) -> None:
        super().__init__()
        self.skus: dict[str, list[Sku]] = {COMPUTE_ENGINE: []}
        self.rates: dict[str, Decimal] = {"USD": Decimal(1), "GBP": Decimal("0.79")}
        self.page_size = 4
        self.route("GET", r"/v1/services/(?P<service>[^/]+)/skus", self._list_skus)

    def error_body(self, status: int, message: str) -> Any:
        return {"error": {"code": status, "message": message, "status": STATUS.get(status, "UNKNOWN")}}

    def add(self, *skus: Sku, service: str = COMPUTE_ENGINE) -> None:
        with self.lock:
            self.skus.setdefault(service, []).extend(skus)

    def reset(self) -> None:
        with self.lock:
            self.skus = {COMPUTE_ENGINE: []}
            self.requests.clear()
            self.page_size = 4
        self.reset_auth()

    def _list_skus(self, request: Request) -> Reply:
        service = request.params["service"]
        currency = request.query.get("currencyCode") or "USD"
        with self.lock:
            skus = list(self.skus.get(service, []))
            known, page_size = service in self.skus, self.page_size
        if not known:
            raise _error(404, f"Service services/{service} not found")
        rate = self.rates.get(currency)
        if rate is None:
            raise _error(400, f"Currency code {currency} is not supported")
        size = min(int(request.query.get("pageSize") or page_size), page_size)
        token = request.query.get("pageToken")
        try:
            offset = int(base64.urlsafe_b64decode(token).decode()) if token else 0
        except ValueError:
            raise _error(400, "Invalid page token") from None
        body: dict[str, Any] = {"skus": [s.render(service, currency, rate) for s in skus[offset : offset + size]]}
        if offset + size < len(skus):
            body["nextPageToken"] = base64.urlsafe_b64encode(str(offset + size).encode()).decode()
        return Reply(200, body)
