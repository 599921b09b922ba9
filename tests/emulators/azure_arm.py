"""An Azure Resource Manager emulator: the parts of ARM that WedCloud calls, over real HTTP.

Cost Management Query (``POST {scope}/providers/Microsoft.CostManagement/query``) answers from
cost records a test loads with ``add_costs``: it filters them by the request's time period,
sums the cost per day (``Daily``) or for the period (``None``) and per grouping dimension, and
pages the rows with ``nextLink`` and a ``$skiptoken``. It enforces what the REST reference
documents and the SDK relies on: a bearer token, an ``api-version``, a ``Custom`` timeframe
with a time period, at most two group-by dimensions, and the error body shape
(``{"error": {"code", "message"}}``). ``throttle(n)`` makes the next n requests answer 429 with
``Retry-After`` so retries can be tested.
"""

from __future__ import annotations

import base64
from collections import defaultdict
from dataclasses import dataclass, field
from datetime import date, datetime
from decimal import Decimal
from typing import Any

from tests.emulators.http import Emulator, HttpError, Reply, Request

QUERY_PATH = r"(?P<scope>/.+?)/providers/(?i:Microsoft\.CostManagement)/(?i:query)"
DIMENSIONS = (
    "ServiceName",
    "ChargeType",
    "ResourceId",
    "ResourceGroup",
    "ResourceLocation",
    "MeterCategory",
    "PricingModel",
    "SubscriptionId",
)
COST_TYPES = ("ActualCost", "AmortizedCost", "Usage")


@dataclass(frozen=True)
class CostRecord:
    """One day's cost of one meter of one resource, as the emulator stores it."""

    day: date
    cost: Decimal
    currency: str = "USD"
    dimensions: dict[str, str] = field(default_factory=dict)
    amortized_cost: Decimal | None = None  # defaults to ``cost``


def _bad_request(message: str) -> HttpError:
    return HttpError(400, {"error": {"code": "BadRequest", "message": message}})


class AzureArmEmulator(Emulator):
    def __init__(self, page_size: int = 1000) -> None:
        super().__init__()
        self.page_size = page_size
        self.costs: dict[str, list[CostRecord]] = defaultdict(list)
        self._throttled = 0
        self.tokens: list[str] = []  # bearer tokens received, in order
        self.route("POST", QUERY_PATH, self._query)

    def add_costs(self, scope: str, records: list[CostRecord]) -> None:
        with self.lock:
            self.costs[scope.rstrip("/").lower()].extend(records)

    def throttle(self, requests: int) -> None:
        with self.lock:
            self._throttled = requests

    def reset(self) -> None:
        with self.lock:
            self.costs.clear()
            self.requests.clear()
            self.tokens.clear()
            self._throttled = 0

    def error_body(self, status: int, message: str) -> Any:
        return {"error": {"code": "NotFound" if status == 404 else str(status), "message": message}}

    def _common(self, request: Request) -> None:
        authorization = request.headers.get("Authorization", "")
        if not authorization.startswith("Bearer "):
            raise HttpError(401, {"error": {"code": "AuthenticationFailed", "message": "no bearer token"}})
        with self.lock:
            self.tokens.append(authorization.removeprefix("Bearer "))
        if "api-version" not in request.query:
            raise HttpError(
                400, {"error": {"code": "MissingApiVersionParameter", "message": "api-version is required"}}
            )
        with self.lock:
            if self._throttled:
                self._throttled -= 1
                raise HttpError(
                    429,
                    {"error": {"code": "429", "message": "Too many requests. Please retry."}},
                )

    def dispatch(self, request: Request) -> Reply:
        reply = super().dispatch(request)
        if reply.status == 429:
            reply.headers["Retry-After"] = "0"
        return reply

    def _query(self, request: Request) -> Reply:
        self._common(request)
        body = request.json() or {}
        cost_type = body.get("type")
        if cost_type not in COST_TYPES:
            raise _bad_request(f"type must be one of {', '.join(COST_TYPES)}, not {cost_type!r}")
        if body.get("timeframe") != "Custom":
            raise _bad_request("this emulator answers only the Custom timeframe")
        period = body.get("timePeriod") or {}
        if "from" not in period or "to" not in period:
            raise _bad_request("timePeriod.from and timePeriod.to are required with a Custom timeframe")
        start = datetime.fromisoformat(period["from"].replace("Z", "+00:00")).date()
        end = datetime.fromisoformat(period["to"].replace("Z", "+00:00")).date()
        if end < start:
            raise _bad_request("timePeriod.to is before timePeriod.from")
        if (end - start).days > 366:
            raise _bad_request("the time period cannot exceed one year")
        dataset = body.get("dataset") or {}
        granularity = dataset.get("granularity", "None")
        if granularity not in ("Daily", "None"):
            raise _bad_request(f"granularity {granularity!r} is not supported")
        grouping = dataset.get("grouping") or []
        if len(grouping) > 2:
            raise _bad_request("Query can have up to 2 group by clauses")
        names = []
        for group in grouping:
            if group.get("type") != "Dimension" or group.get("name") not in DIMENSIONS:
                raise _bad_request(f"invalid grouping {group}")
            names.append(group["name"])
        aggregations = dataset.get("aggregation") or {}
        if len(aggregations) != 1:
            raise _bad_request("exactly one aggregation is supported")
        (aggregation,) = aggregations.values()
        if aggregation.get("function") != "Sum":
            raise _bad_request("only the Sum aggregation is supported")

        totals: dict[tuple[Any, ...], Decimal] = defaultdict(Decimal)
        with self.lock:
            records = list(self.costs.get(request.params["scope"].rstrip("/").lower(), []))
        for record in records:
            if not start <= record.day <= end:
                continue
            amount = record.cost
            if cost_type == "AmortizedCost" and record.amortized_cost is not None:
                amount = record.amortized_cost
            day = int(record.day.strftime("%Y%m%d")) if granularity == "Daily" else None
            key = (day, *(record.dimensions.get(name, "") for name in names), record.currency)
            totals[key] += amount
        rows = [
            [float(amount), *([key[0]] if granularity == "Daily" else []), *key[1:]]
            for key, amount in sorted(totals.items(), key=lambda item: tuple(str(part) for part in item[0]))
        ]
        columns = [{"name": aggregation.get("name", "Cost"), "type": "Number"}]
        if granularity == "Daily":
            columns.append({"name": "UsageDate", "type": "Number"})
        columns += [{"name": name, "type": "String"} for name in names]
        columns.append({"name": "Currency", "type": "String"})

        token = request.query.get("$skiptoken")
        offset = int(base64.urlsafe_b64decode(token).decode()) if token else 0
        page = rows[offset : offset + self.page_size]
        next_link = None
        if offset + self.page_size < len(rows):
            following = base64.urlsafe_b64encode(str(offset + self.page_size).encode()).decode()
            next_link = f"{self.url}{request.path}?api-version={request.query['api-version']}&$skiptoken={following}"
        return Reply(
            200,
            {
                "id": f"{request.params['scope']}/providers/Microsoft.CostManagement/query/emulated",
                "name": "emulated",
                "type": "Microsoft.CostManagement/query",
                "properties": {"nextLink": next_link, "columns": columns, "rows": page},
            },
        )
