"""The Azure Retail Prices API (``GET /api/retail/prices``), public and unauthenticated.

``$filter`` is the OData subset the API documents: ``<field> eq '<value>'`` clauses joined by
``and``; field names are case-insensitive, values case-sensitive (as from API version
2023-01-01-preview), and anything else answers 400, so a client's filter is really evaluated.
``currencyCode='GBP'`` converts USD prices at the emulator's rate; ``meterRegion='primary'`` keeps
primary meters only. Pages hold ``page_size`` items and ``NextPageLink`` is an absolute URL that
repeats the query with ``$skip``, as the real API's does; the last page's link is null.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from decimal import Decimal
from typing import Any
from urllib.parse import quote, urlencode

from tests.emulators.http import Emulator, HttpError, Reply, Request

PATH = "/api/retail/prices"
LOCATIONS = {"eastus": "US East", "uksouth": "UK South", "westeurope": "EU West"}
_CLAUSE = r"\s*(?P<field>[A-Za-z]+)\s+eq\s+'(?P<value>(?:[^']|'')*)'\s*"
_CLAUSE_RE = re.compile(_CLAUSE)
_FILTER_RE = re.compile(rf"{_CLAUSE}(?:\s+and\s+{_CLAUSE.replace('?P<field>', '').replace('?P<value>', '')})*")
# filter field -> item field, for the filterable fields the API documents
FIELDS = {"armregionname": "armRegionName", "location": "location", "meterid": "meterId", "metername": "meterName",
          "productid": "productId", "skuid": "skuId", "productname": "productName", "skuname": "skuName",
          "servicename": "serviceName", "serviceid": "serviceId", "servicefamily": "serviceFamily",
          "pricetype": "type", "armskuname": "armSkuName"}  # fmt: skip


def _bad_request(message: str) -> HttpError:
    return HttpError(400, {"Error": {"Code": "BadRequest", "Message": message}})


@dataclass
class Meter:
    """One retail price row, in USD."""

    service_name: str
    service_family: str
    product_name: str
    sku_name: str
    meter_name: str
    region: str
    price: Decimal
    unit: str
    arm_sku_name: str = ""
    price_type: str = "Consumption"
    primary: bool = True
    effective: str = "2025-10-01T00:00:00Z"

    def render(self, currency: str, rate: Decimal, number: int) -> dict[str, Any]:
        price = float(self.price * rate)
        return {
            "currencyCode": currency, "tierMinimumUnits": 0.0, "retailPrice": price, "unitPrice": price,
            "armRegionName": self.region, "location": LOCATIONS.get(self.region, self.region),
            "effectiveStartDate": self.effective, "meterId": f"00000000-0000-4000-8000-{number:012d}",
            "meterName": self.meter_name, "productId": f"DZH318Z0{number:04d}", "skuId": f"DZH318Z0{number:04d}/00",
            "productName": self.product_name, "skuName": self.sku_name, "serviceName": self.service_name,
            "serviceId": "DZH313Z7MMC8", "serviceFamily": self.service_family, "unitOfMeasure": self.unit,
            "type": self.price_type, "isPrimaryMeterRegion": self.primary, "armSkuName": self.arm_sku_name,
        }  # fmt: skip


def vm(region: str, size: str, price: str, *, series: str, variant: str = "", **extra: Any) -> Meter:
    """A virtual machine meter: ``variant`` is "", " Spot" or " Low Priority"; ``series`` the
    product's series with " Windows" appended for Windows meters."""
    short = size.removeprefix("Standard_").replace("_", " ")
    return Meter("Virtual Machines", "Compute", f"Virtual Machines {series}", f"{short}{variant}",
                 f"{short}{variant}", region, Decimal(price), "1 Hour", arm_sku_name=size, **extra)  # fmt: skip


def disk(region: str, tier: str, monthly: str, product: str = "Standard SSD Managed Disks") -> list[Meter]:
    """A disk tier's capacity meter plus its operations meter (which a client must not take)."""
    return [
        Meter("Storage", "Storage", product, f"{tier} LRS", f"{tier} LRS Disk", region, Decimal(monthly), "1/Month"),
        Meter("Storage", "Storage", product, f"{tier} LRS", f"{tier} LRS Disk Operations", region, Decimal("0.002"),
              "10K"),
    ]  # fmt: skip


def address(region: str, meter: str, price: str) -> Meter:
    sku = meter.split()[0]
    return Meter("Virtual Network", "Networking", "IP Addresses", sku, meter, region, Decimal(price), "1 Hour")


class AzurePricesEmulator(Emulator):
    def __init__(self) -> None:
        super().__init__()
        self.meters: list[Meter] = []
        self.rates: dict[str, Decimal] = {"USD": Decimal(1), "GBP": Decimal("0.79")}
        self.page_size = 3
        self.filters: list[str] = []  # every $filter received, for assertions
        self.route("GET", PATH, self._list)

    def error_body(self, status: int, message: str) -> Any:
        return {"Error": {"Code": "NotFound" if status == 404 else "BadRequest", "Message": message}}

    def add(self, *meters: Meter | list[Meter]) -> None:
        with self.lock:
            for meter in meters:
                self.meters.extend(meter if isinstance(meter, list) else [meter])

    def reset(self) -> None:
        with self.lock:
            self.meters.clear()
            self.filters.clear()
            self.requests.clear()
            self.page_size = 3

    def _list(self, request: Request) -> Reply:
        text = request.query.get("$filter", "")
        clauses = _parse(text)
        currency = request.query.get("currencyCode", "'USD'").strip("'")
        rate = self.rates.get(currency)
        if rate is None:
            raise _bad_request(f"Invalid currency code {currency}")
        primary_only = request.query.get("meterRegion", "").strip("'") == "primary"
        with self.lock:
            self.filters.append(text)
            numbered = list(enumerate(self.meters))
            page_size = self.page_size
        rendered = [m.render(currency, rate, n) for n, m in numbered if not primary_only or m.primary]
        found = [item for item in rendered if all(item.get(field) == value for field, value in clauses)]
        skip = int(request.query.get("$skip") or 0)
        page = found[skip : skip + page_size]
        link = None
        if skip + page_size < len(found):
            query = {k: v for k, v in request.query.items() if k != "$skip"} | {"$skip": str(skip + page_size)}
            link = f"{self.url}{PATH}?{urlencode(query, quote_via=quote)}"
        body = {"BillingCurrency": currency, "CustomerEntityId": "Default", "CustomerEntityType": "Retail",
                "Items": page, "NextPageLink": link, "Count": len(page)}  # fmt: skip
        return Reply(200, body)


def _parse(text: str) -> list[tuple[str, str]]:
    """The (item field, value) pairs of an ``eq``/``and`` filter; 400 for anything else."""
    if not text.strip():
        return []
    if not _FILTER_RE.fullmatch(text):
        raise _bad_request(f"Invalid OData filter: {text}")
    clauses = []
    for found in _CLAUSE_RE.finditer(text):
        field = FIELDS.get(found["field"].lower())
        if field is None:
            raise _bad_request(f"Could not find a property named '{found['field']}'")
        clauses.append((field, found["value"].replace("''", "'")))
    return clauses
