"""Cost breakdowns: spend grouped by up to two dimensions over a date range, optionally per day,
week or month, with the top groups kept and the rest summed as "other".

Reads ``cost_daily`` when every dimension asked for is in it (the small table) and
``cost_detail_daily`` otherwise (resource, resource type, pricing category, tags). Sums are
exact Decimal from DuckDB; a currency is never added to another, so every group, total and
share is per billing currency. A tag dimension (``tag:team``) reports the cost without that tag
as "untagged", outside the top-N ranking, with its share.

A ``provider`` filter value matches a row's FOCUS ProviderName or its source (``x_SourceId``, the
registered provider's id), so a filter may name all of a cloud's costs ("AWS") or one registered
provider's (its id); the API resolves WedCloud names and aliases to these first
(``control_plane.services.provider_filters``).

Amounts are the metric's exact sums; the API rounds each to cents on its own, so rows may miss
their total by a cent or so: :func:`rounding_gaps` says by how much.
"""

from __future__ import annotations

import csv
import io
from collections import defaultdict
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from datetime import date
from decimal import Decimal
from typing import Any

from analytics.focus.currencies import is_iso_4217
from analytics.money import format_amount, to_cents
from analytics.overview import Queryable

DIMENSIONS = {
    "provider": "ProviderName",
    "service": "ServiceName",
    "service_category": "ServiceCategory",
    "region": "RegionId",
    "billing_account": "BillingAccountId",
    "sub_account": "SubAccountId",
    "charge_category": "ChargeCategory",
    "resource": "ResourceId",
    "resource_type": "ResourceType",
    "pricing_category": "PricingCategory",
}
DETAIL_ONLY = {"resource", "resource_type", "pricing_category"}
METRICS = ("BilledCost", "EffectiveCost", "ListCost")  # FOCUS's columns: the API's one vocabulary
METRIC_ALIASES = {"billed": "BilledCost", "effective": "EffectiveCost", "list": "ListCost"}  # the old spellings
GRANULARITIES = ("day", "week", "month")
TAG_PREFIX = "tag:"
MAX_DIMENSIONS = 2
MAX_TOP = 100
SHARE = Decimal("0.0001")


class InvalidBreakdown(ValueError):
    """The query cannot be answered; ``problems`` lists (parameter, what it needs)."""

    def __init__(self, problems: list[tuple[str, str]]) -> None:
        super().__init__("; ".join(f"{name}: {message}" for name, message in problems))
        self.problems = problems


@dataclass(frozen=True)
class BreakdownQuery:
    group_by: tuple[str, ...]
    start: date
    end: date  # inclusive
    metric: str = "BilledCost"  # a FOCUS cost column, or its old spelling (METRIC_ALIASES)
    granularity: str | None = None
    filters: tuple[tuple[str, tuple[str, ...]], ...] = ()  # (dimension or tag:<key>, allowed values)
    currency: str | None = None
    top: int = 10

    def check(self) -> None:
        problems = [*self._group_problems(), *self._filter_problems()]
        if self.start > self.end:
            problems.append(("start", f"on or before end ({self.end.isoformat()})"))
        if metric_column(self.metric) is None:
            problems.append(("metric", f"one of {', '.join(METRICS)} (or {', '.join(METRIC_ALIASES)})"))
        if self.granularity is not None and self.granularity not in GRANULARITIES:
            problems.append(("granularity", f"one of {', '.join(GRANULARITIES)}"))
        if self.currency is not None and not is_iso_4217(self.currency):
            problems.append(("currency", f"an ISO 4217 code such as USD, not {self.currency!r}"))
        if not 1 <= self.top <= MAX_TOP:
            problems.append(("top", f"from 1 to {MAX_TOP}"))
        if problems:
            raise InvalidBreakdown(problems)

    def _group_problems(self) -> list[tuple[str, str]]:
        if not 1 <= len(self.group_by) <= MAX_DIMENSIONS or len(set(self.group_by)) != len(self.group_by):
            return [("group_by", f"one or two different dimensions, comma-separated: {known_dimensions()}")]
        return [("group_by", f"{name!r} is not a dimension: {known_dimensions()}") for name in self.group_by
                if not is_dimension(name)]  # fmt: skip

    def _filter_problems(self) -> list[tuple[str, str]]:
        return [(name, f"not a dimension: {known_dimensions()}") for name, _ in self.filters if not is_dimension(name)]

    @property
    def table(self) -> str:
        names = [*self.group_by, *(name for name, _ in self.filters)]
        detailed = any(name in DETAIL_ONLY or name.startswith(TAG_PREFIX) for name in names)
        return "cost_detail_daily" if detailed else "cost_daily"

    @property
    def tag_dimensions(self) -> list[int]:
        return [i for i, name in enumerate(self.group_by) if name.startswith(TAG_PREFIX)]


def metric_column(name: str) -> str | None:
    """The FOCUS cost column a metric names (its own name, or an old spelling), None if none."""
    return name if name in METRICS else METRIC_ALIASES.get(name)


def is_dimension(name: str) -> bool:
    """A known dimension, or ``tag:<key>`` whose key holds no quote or backslash (it becomes a
    JSON path)."""
    key = name.removeprefix(TAG_PREFIX)
    return name in DIMENSIONS or (name.startswith(TAG_PREFIX) and bool(key) and not {'"', "\\"} & set(key))


def known_dimensions() -> str:
    return ", ".join([*DIMENSIONS, "tag:<key>"])


@dataclass
class Group:
    key: dict[str, str | None]
    currency: str
    total: Decimal = Decimal(0)
    series: dict[date, Decimal] = field(default_factory=dict)
    kind: str = "group"  # group, other or untagged


@dataclass(frozen=True)
class Breakdown:
    query: BreakdownQuery
    groups: list[Group]  # per currency: top groups by total, then other, then untagged
    totals: dict[str, Decimal]

    def share(self, group: Group) -> Decimal:
        total = self.totals.get(group.currency) or Decimal(0)
        return (group.total / total).quantize(SHARE) if total else Decimal(0)


def _expression(name: str, params: list[Any]) -> str:
    if name.startswith(TAG_PREFIX):
        params.append('$."' + name.removeprefix(TAG_PREFIX) + '"')  # is_dimension refused quotes
        return "json_extract_string(Tags, ?)"
    return DIMENSIONS[name]


def _sql(q: BreakdownQuery) -> tuple[str, list[Any]]:
    params: list[Any] = []
    keys = [f"{_expression(name, params)} AS g{i}" for i, name in enumerate(q.group_by)]
    period = f"CAST(date_trunc('{q.granularity}', ChargeDate) AS DATE)" if q.granularity else "NULL::DATE"
    where = ["ChargeDate BETWEEN ? AND ?"]
    where_params: list[Any] = [q.start, q.end]
    for name, values in q.filters:
        marks = ", ".join("?" * len(values))
        if name == "provider":  # a FOCUS ProviderName or a registered provider's id (its source)
            where.append(f"(ProviderName IN ({marks}) OR x_SourceId IN ({marks}))")
            where_params.extend([*values, *values])
            continue
        where.append(f"{_expression(name, where_params)} IN ({marks})")
        where_params.extend(values)
    if q.currency:
        where.append("BillingCurrency = ?")
        where_params.append(q.currency)
    sql = (
        f"SELECT {', '.join(keys)}, BillingCurrency, {period} AS period, sum({metric_column(q.metric)}) "
        f"FROM {q.table} WHERE {' AND '.join(where)} GROUP BY ALL"
    )
    return sql, params + where_params


def breakdown(query: Queryable, q: BreakdownQuery) -> Breakdown:
    """Run ``q`` (checked first) against the cost tables behind ``query``."""
    q.check()
    sql, params = _sql(q)
    width = len(q.group_by)
    groups: dict[tuple[Any, ...], Group] = {}
    for row in query(sql, params):
        values, currency, period, amount = row[:width], row[width], row[width + 1], row[width + 2]
        kind = "untagged" if any(values[i] is None for i in q.tag_dimensions) else "group"
        group = groups.get((*values, currency))
        if group is None:
            key = dict(zip(q.group_by, values, strict=True))
            group = groups[(*values, currency)] = Group(key, currency, kind=kind)
        group.total += amount
        if period is not None:
            group.series[period] = group.series.get(period, Decimal(0)) + amount
    totals: dict[str, Decimal] = defaultdict(Decimal)
    for group in groups.values():
        totals[group.currency] += group.total
    return Breakdown(q, _ranked(q, list(groups.values())), dict(sorted(totals.items())))


def _ranked(q: BreakdownQuery, groups: list[Group]) -> list[Group]:
    """Per currency: the top groups by total (ties by key), the rest summed as other, then untagged."""
    ranked: list[Group] = []
    for currency in sorted({g.currency for g in groups}):
        ordinary = [g for g in groups if g.currency == currency and g.kind == "group"]
        ordinary.sort(key=lambda g: (-g.total, [str(v) for v in g.key.values()]))
        ranked += ordinary[: q.top]
        if rest := ordinary[q.top :]:
            other = Group(dict.fromkeys(q.group_by, "other"), currency, kind="other")
            for group in rest:
                other.total += group.total
                for period, amount in group.series.items():
                    other.series[period] = other.series.get(period, Decimal(0)) + amount
            ranked.append(other)
        ranked += [g for g in groups if g.currency == currency and g.kind == "untagged"]
    return ranked


@dataclass(frozen=True)
class RoundingGap:
    """Rows of one currency, each rounded to cents, that do not add up to their total rounded."""

    currency: str
    rows_sum: Decimal  # the rows' amounts as shown, added up
    total: Decimal  # the exact total, rounded once

    @property
    def difference(self) -> Decimal:
        return self.rows_sum - self.total


def rounding_gaps(rows: Iterable[tuple[str, Decimal]], totals: Mapping[str, Decimal]) -> list[RoundingGap]:
    """Per currency, where the rows (currency, exact amount), each rounded to cents on its own,
    add up to something other than the total rounded once; none where they agree."""
    shown: dict[str, Decimal] = defaultdict(Decimal)
    for currency, amount in rows:
        shown[currency] += to_cents(amount)
    gaps = []
    for currency, total in sorted(totals.items()):
        if shown.get(currency, Decimal(0)) != to_cents(total):
            gaps.append(RoundingGap(currency, shown.get(currency, Decimal(0)), to_cents(total)))
    return gaps


def to_csv(result: Breakdown, *, amount: Callable[[Decimal], str] = format_amount) -> str:
    """The breakdown as CSV: one row per group (and period, with a granularity), amounts in cents."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    names = list(result.query.group_by)
    periodic = result.query.granularity is not None
    writer.writerow([*names, "kind", "currency", *(["period"] if periodic else []), "amount", "share"])
    for group in result.groups:
        values = [group.key[name] if group.key[name] is not None else "" for name in names]
        share = str(result.share(group))
        if periodic:
            for period, value in sorted(group.series.items()):
                writer.writerow([*values, group.kind, group.currency, period.isoformat(), amount(value), share])
        else:
            writer.writerow([*values, group.kind, group.currency, amount(group.total), share])
    return out.getvalue()
