"""The AWS Price List Query API (``api.pricing``), enough of it for ``GetProducts``.

The protocol is AWS JSON 1.1: ``POST /`` with ``X-Amz-Target: AWSPriceListService.<Operation>``
and a JSON body. ``GetProducts`` takes ``ServiceCode``, ``Filters`` (``Type``/``Field``/``Value``),
``MaxResults`` and ``NextToken``; it answers ``{"FormatVersion": "aws_v1", "PriceList": [...],
"NextToken": ...}`` where every PriceList entry is a product document serialised as a JSON
*string*, as the real service does. Filters match product attributes (and ``productFamily``):
TERM_MATCH and EQUALS exactly, CONTAINS as a substring, ANY_OF/NONE_OF against a comma-separated
list. Errors use the ``__type``/``Message`` shape so botocore raises the modelled exception.
Pages are small (``page_size``) so that clients must paginate.
"""

from __future__ import annotations

import base64
import json
from dataclasses import dataclass
from typing import Any

from tests.emulators.http import Emulator, HttpError, Reply, Request

TARGET_PREFIX = "AWSPriceListService."
PREFIX = {"us-east-1": "", "eu-west-2": "EUW2-", "eu-west-1": "EUW1-", "us-west-2": "USW2-"}
LOCATION = {"us-east-1": "US East (N. Virginia)", "eu-west-2": "Europe (London)", "eu-west-1": "Europe (Ireland)"}
ON_DEMAND_CODE = "JRTCKXETXF"
RESERVED_CODE = "6QCMYABX3D"  # 1 year, all upfront, standard
RATE_CODE = "6YS6EN2CT7"


def _invalid(message: str) -> HttpError:
    return HttpError(400, {"__type": "InvalidParameterException", "Message": message})


@dataclass
class Product:
    """One Price List product: its service, family, attributes and prices per term."""

    sku: str
    service_code: str
    family: str
    attributes: dict[str, str]
    unit: str
    on_demand: str  # USD per unit, as the API's ten-decimal string
    reserved: str | None = None  # an effective hourly rate under a Reserved term, to be ignored

    def value(self, name: str) -> str | None:
        return self.family if name == "productFamily" else self.attributes.get(name)

    def document(self) -> dict[str, Any]:
        terms: dict[str, Any] = {"OnDemand": self._term(ON_DEMAND_CODE, self.on_demand, "On Demand")}
        if self.reserved is not None:
            terms["Reserved"] = self._term(RESERVED_CODE, self.reserved, "Reserved")
        return {
            "product": {"productFamily": self.family, "attributes": self.attributes, "sku": self.sku},
            "serviceCode": self.service_code,
            "terms": terms,
            "version": "20251101000000",
            "publicationDate": "2025-11-01T00:00:00Z",
        }

    def _term(self, code: str, price: str, label: str) -> dict[str, Any]:
        rate = f"{self.sku}.{code}.{RATE_CODE}"
        dimension = {
            "unit": self.unit,
            "endRange": "Inf",
            "description": f"${price} per {label} {self.attributes.get('usagetype', '')}",
            "appliesTo": [],
            "rateCode": rate,
            "beginRange": "0",
            "pricePerUnit": {"USD": price},
        }
        term = {"priceDimensions": {rate: dimension}, "sku": self.sku, "effectiveDate": "2025-11-01T00:00:00Z",
                "offerTermCode": code, "termAttributes": {}}  # fmt: skip
        if code == RESERVED_CODE:
            term["termAttributes"] = {"LeaseContractLength": "1yr", "OfferingClass": "standard",
                                      "PurchaseOption": "All Upfront"}  # fmt: skip
        return {f"{self.sku}.{code}": term}


def _money(text: str) -> str:
    whole, _, fraction = text.partition(".")
    return f"{whole}.{fraction:0<10}"


def ec2_instance(sku: str, region: str, name: str, vcpus: int, memory: str, price: str, **attrs: str) -> Product:
    """An EC2 instance product; ``attrs`` override the Linux/Shared/NA/Used defaults."""
    attributes = {
        "instanceType": name, "vcpu": str(vcpus), "memory": memory, "regionCode": region,
        "location": LOCATION.get(region, region), "locationType": "AWS Region", "operatingSystem": "Linux",
        "tenancy": "Shared", "preInstalledSw": "NA", "capacitystatus": "Used", "licenseModel": "No License required",
        "marketoption": "OnDemand", "operation": "RunInstances", "processorArchitecture": "64-bit",
        "physicalProcessor": "Intel Xeon Platinum 8175", "networkPerformance": "Up to 10 Gigabit",
        "instanceFamily": "General purpose", "servicecode": "AmazonEC2",
        "usagetype": f"{PREFIX.get(region, '')}BoxUsage:{name}",
    } | attrs  # fmt: skip
    reserved = _money(str(round(float(price) * 0.6, 4)))
    return Product(sku, "AmazonEC2", "Compute Instance", attributes, "Hrs", _money(price), reserved)


def ebs_volume(sku: str, region: str, volume_api_name: str, price: str) -> Product:
    attributes = {"volumeApiName": volume_api_name, "regionCode": region, "location": LOCATION.get(region, region),
                  "locationType": "AWS Region", "servicecode": "AmazonEC2",
                  "usagetype": f"{PREFIX.get(region, '')}EBS:VolumeUsage.{volume_api_name}"}  # fmt: skip
    return Product(sku, "AmazonEC2", "Storage", attributes, "GB-Mo", _money(price))


def public_ipv4(sku: str, region: str, usage: str, price: str, group: str = "VPCPublicIPv4Address") -> Product:
    """A public IPv4 product under AmazonVPC; ``usage`` is e.g. ``PublicIPv4:IdleAddress``."""
    attributes = {"group": group, "regionCode": region, "location": LOCATION.get(region, region),
                  "servicecode": "AmazonVPC", "usagetype": f"{PREFIX.get(region, '') or 'USE1-'}{usage}"}  # fmt: skip
    return Product(sku, "AmazonVPC", "IP Address", attributes, "Hrs", _money(price))


class AwsPricingEmulator(Emulator):
    def __init__(self) -> None:
        super().__init__()
        self.products: list[Product] = []
        self.page_size = 3
        self.calls: list[dict[str, Any]] = []  # every GetProducts request body, for assertions
        self.route("POST", r"/", self._dispatch_target)

    def error_body(self, status: int, message: str) -> Any:
        return {"__type": "UnknownOperationException" if status == 404 else "InternalErrorException",
                "Message": message}  # fmt: skip

    def add(self, *products: Product) -> None:
        with self.lock:
            self.products.extend(products)

    def reset(self) -> None:
        with self.lock:
            self.products.clear()
            self.calls.clear()
            self.requests.clear()
            self.page_size = 3

    def calls_for(self, service_code: str) -> list[dict[str, Any]]:
        with self.lock:
            return [c for c in self.calls if c.get("ServiceCode") == service_code]

    def _dispatch_target(self, request: Request) -> Reply:
        target = request.headers.get("X-Amz-Target", "")
        if not request.headers.get("Authorization", "").startswith("AWS4-HMAC-SHA256"):
            raise HttpError(403, {"__type": "MissingAuthenticationTokenException", "Message": "missing signature"})
        if target != TARGET_PREFIX + "GetProducts":
            raise HttpError(400, {"__type": "UnknownOperationException", "Message": f"unknown operation {target}"})
        return self._get_products(request.json() or {})

    def _get_products(self, body: dict[str, Any]) -> Reply:
        with self.lock:
            self.calls.append(body)
            products = list(self.products)
            page_size = self.page_size
        service = body.get("ServiceCode")
        if not service:
            raise _invalid("ServiceCode is required")
        filters = body.get("Filters", [])
        found = [p for p in products if p.service_code == service and all(_matches(p, f) for f in filters)]
        size = min(int(body.get("MaxResults") or 100), page_size)
        token = body.get("NextToken")
        try:
            offset = int(json.loads(base64.b64decode(token))["offset"]) if token else 0
        except (ValueError, KeyError):
            raise _invalid("The NextToken is invalid") from None
        reply: dict[str, Any] = {
            "FormatVersion": body.get("FormatVersion", "aws_v1"),
            "PriceList": [json.dumps(p.document()) for p in found[offset : offset + size]],
        }
        if offset + size < len(found):
            reply["NextToken"] = base64.b64encode(json.dumps({"offset": offset + size}).encode()).decode()
        return Reply(200, reply, {"Content-Type": "application/x-amz-json-1.1"})


def _matches(product: Product, clause: dict[str, str]) -> bool:
    kind, name, wanted = clause.get("Type"), clause.get("Field"), clause.get("Value", "")
    value = product.value(name or "")
    if kind in ("TERM_MATCH", "EQUALS"):
        return value == wanted
    if kind == "CONTAINS":
        return value is not None and wanted in value
    if kind in ("ANY_OF", "NONE_OF"):
        listed = {v.strip() for v in wanted.split(",")}
        return (value in listed) == (kind == "ANY_OF")
    raise _invalid(f"Filter type {kind} is not supported")
