"""The cost overview: month to date, last month, and this month by provider and service.

Reads the ``cost_daily`` table (of a serving snapshot, or the warehouse in tests). Amounts
are exact Decimal sums of BilledCost; different currencies are never added together.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from typing import Any, Protocol


class Queryable(Protocol):
    def __call__(self, sql: str, params: list[Any]) -> list[tuple[Any, ...]]: ...


@dataclass(frozen=True)
class Money:
    currency: str
    amount: Decimal


@dataclass(frozen=True)
class Period:
    start: date
    end: date  # inclusive last day
    totals: list[Money]


@dataclass(frozen=True)
class Spend:
    """Spend of one group (a provider, or a provider's service) in one currency."""

    provider: str
    service: str | None
    currency: str
    amount: Decimal


@dataclass(frozen=True)
class Change:
    """Month to date against the same days of last month, in one currency."""

    currency: str
    now: Decimal
    before: Decimal

    @property
    def amount(self) -> Decimal:
        return self.now - self.before

    @property
    def percent(self) -> Decimal | None:
        return None if not self.before else (self.amount / self.before * 100).quantize(Decimal("0.1"))


@dataclass(frozen=True)
class Mover:
    """A service whose spend moved most against the same days of last month."""

    provider: str
    service: str
    change: Change


@dataclass(frozen=True)
class Overview:
    data_through: date | None
    month_to_date: Period
    last_month: Period
    by_provider: list[Spend]
    by_service: list[Spend]
    same_period_last_month: Period
    change: list[Change]
    top_movers: list[Mover]


MOVERS = 5


def month_start(day: date) -> date:
    return day.replace(day=1)


def same_days_last_month(start: date, end: date) -> tuple[date, date]:
    """The days of last month matching ``start``..``end`` of this one; a 31st of a month after
    a 30-day month maps to that month's last day."""
    last_start, last_end = previous_month(start)
    return last_start, min(last_start + (end - start), last_end)


def previous_month(day: date) -> tuple[date, date]:
    last_day = month_start(day) - timedelta(days=1)
    return month_start(last_day), last_day


def latest_charge_date(query: Queryable) -> date | None:
    rows = query("SELECT max(ChargeDate) FROM cost_daily", [])
    latest: date | None = rows[0][0] if rows else None
    return latest


def _totals(query: Queryable, start: date, end: date) -> list[Money]:
    rows = query(
        "SELECT BillingCurrency, sum(BilledCost) FROM cost_daily "
        "WHERE ChargeDate BETWEEN ? AND ? GROUP BY BillingCurrency ORDER BY BillingCurrency",
        [start, end],
    )
    return [Money(currency, amount) for currency, amount in rows]


def cost_overview(query: Queryable, *, as_of: date | None = None) -> Overview:
    """The overview for the month containing ``as_of`` (default: the latest day with data)."""
    data_through = latest_charge_date(query)
    reference = as_of or data_through or datetime.now(UTC).date()
    mtd_start = month_start(reference)
    last_start, last_end = previous_month(reference)
    by_provider = query(
        "SELECT ProviderName, BillingCurrency, sum(BilledCost) AS cost FROM cost_daily "
        "WHERE ChargeDate BETWEEN ? AND ? GROUP BY ALL ORDER BY cost DESC, ProviderName",
        [mtd_start, reference],
    )
    by_service = query(
        "SELECT ProviderName, ServiceName, BillingCurrency, sum(BilledCost) AS cost FROM cost_daily "
        "WHERE ChargeDate BETWEEN ? AND ? GROUP BY ALL ORDER BY cost DESC, ProviderName, ServiceName",
        [mtd_start, reference],
    )
    month_to_date = Period(mtd_start, reference, _totals(query, mtd_start, reference))
    same_start, same_end = same_days_last_month(mtd_start, reference)
    same_period = Period(same_start, same_end, _totals(query, same_start, same_end))
    return Overview(
        data_through=data_through,
        month_to_date=month_to_date,
        last_month=Period(last_start, last_end, _totals(query, last_start, last_end)),
        by_provider=[Spend(p, None, c, a) for p, c, a in by_provider],
        by_service=[Spend(p, s, c, a) for p, s, c, a in by_service],
        same_period_last_month=same_period,
        change=_changes(month_to_date.totals, same_period.totals),
        top_movers=_movers(query, (mtd_start, reference), (same_start, same_end)),
    )


def _changes(now: list[Money], before: list[Money]) -> list[Change]:
    amounts: dict[str, list[Decimal]] = {}
    for index, totals in enumerate((now, before)):
        for money in totals:
            amounts.setdefault(money.currency, [Decimal(0), Decimal(0)])[index] = money.amount
    return [Change(currency, pair[0], pair[1]) for currency, pair in sorted(amounts.items())]


def _movers(query: Queryable, now: tuple[date, date], before: tuple[date, date]) -> list[Mover]:
    """The services with the largest absolute change, up to five per currency."""
    rows = query(
        "SELECT ProviderName, ServiceName, BillingCurrency, "
        "sum(BilledCost) FILTER (WHERE ChargeDate BETWEEN ? AND ?) AS now, "
        "sum(BilledCost) FILTER (WHERE ChargeDate BETWEEN ? AND ?) AS before "
        "FROM cost_daily WHERE ChargeDate BETWEEN ? AND ? OR ChargeDate BETWEEN ? AND ? GROUP BY ALL",
        [*now, *before, *now, *before],
    )
    movers = [Mover(p, s, Change(c, n or Decimal(0), b or Decimal(0))) for p, s, c, n, b in rows]
    movers.sort(key=lambda m: (m.change.currency, -abs(m.change.amount), m.provider, m.service))
    ranked: list[Mover] = []
    for mover in movers:
        if sum(1 for r in ranked if r.change.currency == mover.change.currency) < MOVERS and mover.change.amount:
            ranked.append(mover)
    return ranked
