"""A Google Cloud REST emulator: the Cloud Billing and Cloud Catalog APIs (v1) that WedCloud
reads through google-cloud-billing with ``transport="rest"``.

Lists page with ``pageSize`` and ``pageToken`` and answer ``nextPageToken`` while rows remain,
as the API reference describes; errors use Google's shape (``{"error": {"code", "message",
"status"}}``) so the client raises the matching ``google.api_core.exceptions`` class. Tests load
accounts, projects, services and SKUs through the ``add_*`` methods. Calls need a service
account's token (:mod:`tests.emulators.google_auth`).
"""

from __future__ import annotations

import base64
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

from tests.emulators.google_auth import GoogleEmulator
from tests.emulators.http import HttpError, Reply, Request

DEFAULT_PAGE_SIZE = 50
STATUS = {400: "INVALID_ARGUMENT", 403: "PERMISSION_DENIED", 404: "NOT_FOUND", 405: "METHOD_NOT_ALLOWED"}


@dataclass
class SkuPrice:
    """One SKU of the catalogue with tiered list prices (in USD; converted on request)."""

    sku_id: str
    service_id: str
    description: str
    resource_family: str
    resource_group: str
    usage_type: str
    regions: list[str]
    usage_unit: str
    tiers: list[tuple[Decimal, Decimal]]  # (start usage amount, unit price in USD)
    usage_unit_description: str = ""
    effective_time: str = "2026-01-01T00:00:00Z"
    conversion: dict[str, Decimal] = field(default_factory=dict)


def _money(amount: Decimal, currency: str) -> dict[str, Any]:
    units = int(amount)
    nanos = int(((amount - units) * 1_000_000_000).to_integral_value())
    return {"currencyCode": currency, "units": str(units), "nanos": nanos}


def _error(status: int, message: str) -> HttpError:
    return HttpError(status, {"error": {"code": status, "message": message, "status": STATUS.get(status, "UNKNOWN")}})


class GoogleRestEmulator(GoogleEmulator):
    def __init__(self) -> None:
        super().__init__()
        self.billing_accounts: dict[str, dict[str, Any]] = {}
        self.projects: dict[str, list[dict[str, Any]]] = {}
        self.services: dict[str, str] = {}  # service id -> display name
        self.skus: list[SkuPrice] = []
        self.route("GET", r"/v1/billingAccounts", self._list_accounts)
        self.route("GET", r"/v1/billingAccounts/(?P<account>[^/]+)", self._get_account)
        self.route("GET", r"/v1/billingAccounts/(?P<account>[^/]+)/projects", self._list_projects)
        self.route("GET", r"/v1/services", self._list_services)
        self.route("GET", r"/v1/services/(?P<service>[^/]+)/skus", self._list_skus)

    def error_body(self, status: int, message: str) -> Any:
        return {"error": {"code": status, "message": message, "status": STATUS.get(status, "UNKNOWN")}}

    def reset(self) -> None:
        with self.lock:
            self.billing_accounts.clear()
            self.projects.clear()
            self.services.clear()
            self.skus.clear()
            self.requests.clear()
        self.reset_auth()

    def add_billing_account(self, account_id: str, name: str, currency: str = "USD", *, open_: bool = True) -> None:
        with self.lock:
            self.billing_accounts[account_id] = {
                "name": f"billingAccounts/{account_id}",
                "open": open_,
                "displayName": name,
                "masterBillingAccount": "",
                "currencyCode": currency,
            }

    def add_project(self, account_id: str, project_id: str, *, billing_enabled: bool = True) -> None:
        with self.lock:
            self.projects.setdefault(account_id, []).append(
                {
                    "name": f"projects/{project_id}/billingInfo",
                    "projectId": project_id,
                    "billingAccountName": f"billingAccounts/{account_id}",
                    "billingEnabled": billing_enabled,
                }
            )

    def add_service(self, service_id: str, display_name: str) -> None:
        with self.lock:
            self.services[service_id] = display_name

    def add_sku(self, sku: SkuPrice) -> None:
        with self.lock:
            self.skus.append(sku)

    # -- handlers ---------------------------------------------------------------------------

    def _page(self, request: Request, items: list[Any], key: str) -> Reply:
        try:
            size = int(request.query.get("pageSize") or DEFAULT_PAGE_SIZE)
        except ValueError:
            raise _error(400, "pageSize must be an integer") from None
        if size <= 0:
            size = DEFAULT_PAGE_SIZE
        token = request.query.get("pageToken")
        try:
            offset = int(base64.urlsafe_b64decode(token).decode()) if token else 0
        except ValueError:
            raise _error(400, "invalid pageToken") from None
        body: dict[str, Any] = {key: items[offset : offset + size]}
        if offset + size < len(items):
            body["nextPageToken"] = base64.urlsafe_b64encode(str(offset + size).encode()).decode()
        return Reply(200, body)

    def _list_accounts(self, request: Request) -> Reply:
        with self.lock:
            accounts = [self.billing_accounts[k] for k in sorted(self.billing_accounts)]
        return self._page(request, accounts, "billingAccounts")

    def _get_account(self, request: Request) -> Reply:
        with self.lock:
            account = self.billing_accounts.get(request.params["account"])
        if account is None:
            raise _error(404, f"billing account {request.params['account']} not found")
        return Reply(200, account)

    def _list_projects(self, request: Request) -> Reply:
        account = request.params["account"]
        with self.lock:
            if account not in self.billing_accounts:
                raise _error(403, f"the caller does not have permission on billingAccounts/{account}")
            projects = list(self.projects.get(account, []))
        return self._page(request, projects, "projectBillingInfo")

    def _list_services(self, request: Request) -> Reply:
        with self.lock:
            services = [
                {
                    "name": f"services/{sid}",
                    "serviceId": sid,
                    "displayName": name,
                    "businessEntityName": "businessEntities/GCP",
                }
                for sid, name in sorted(self.services.items())
            ]
        return self._page(request, services, "services")

    def _list_skus(self, request: Request) -> Reply:
        service = request.params["service"]
        currency = request.query.get("currencyCode", "USD")
        with self.lock:
            if service not in self.services:
                raise _error(404, f"service {service} not found")
            skus = [s for s in self.skus if s.service_id == service]
        rendered = []
        for sku in skus:
            rate = Decimal(1) if currency == "USD" else sku.conversion.get(currency)
            if rate is None:
                raise _error(400, f"currency {currency} is not supported")
            rendered.append(self._render_sku(sku, currency, rate))
        return self._page(request, rendered, "skus")

    def _render_sku(self, sku: SkuPrice, currency: str, rate: Decimal) -> dict[str, Any]:
        return {
            "name": f"services/{sku.service_id}/skus/{sku.sku_id}",
            "skuId": sku.sku_id,
            "description": sku.description,
            "category": {
                "serviceDisplayName": self.services[sku.service_id],
                "resourceFamily": sku.resource_family,
                "resourceGroup": sku.resource_group,
                "usageType": sku.usage_type,
            },
            "serviceRegions": sku.regions,
            "serviceProviderName": "Google",
            "geoTaxonomy": {"type": "REGIONAL" if len(sku.regions) == 1 else "MULTI_REGIONAL", "regions": sku.regions},
            "pricingInfo": [
                {
                    "summary": "",
                    "effectiveTime": sku.effective_time,
                    "currencyConversionRate": float(rate),
                    "pricingExpression": {
                        "usageUnit": sku.usage_unit,
                        "usageUnitDescription": sku.usage_unit_description or sku.usage_unit,
                        "baseUnit": sku.usage_unit,
                        "baseUnitDescription": sku.usage_unit_description or sku.usage_unit,
                        "baseUnitConversionFactor": 1,
                        "displayQuantity": 1,
                        "tieredRates": [
                            {"startUsageAmount": float(start), "unitPrice": _money(price * rate, currency)}
                            for start, price in sku.tiers
                        ],
                    },
                }
            ],
        }
