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
class Overview:
    data_through: date | None
    month_to_date: Period
    last_month: Period
    by_provider: list[Spend]
    by_service: list[Spend]


def month_start(day: date) -> date:
    return day.replace(day=1)


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
    return Overview(
        data_through=data_through,
        month_to_date=Period(mtd_start, reference, _totals(query, mtd_start, reference)),
        last_month=Period(last_start, last_end, _totals(query, last_start, last_end)),
        by_provider=[Spend(p, None, c, a) for p, c, a in by_provider],
        by_service=[Spend(p, s, c, a) for p, s, c, a in by_service],
    )
