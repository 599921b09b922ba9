"""The cost report's data model: the reported period and, per currency, the spend, daily
series and forecast, with the anomalies, budgets and recommendations the report lists.

Money is Decimal; forecasts are float estimates (see :mod:`analytics.forecast`). Currency codes
are checked here, once, because they end up in file names and element attributes.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from decimal import Decimal
from typing import Literal

Kind = Literal["weekly", "monthly"]

_CURRENCY = re.compile(r"^[A-Z]{3}$")


@dataclass(frozen=True)
class ReportPeriod:
    """The reported period; ``end`` is the last day included."""

    start: date
    end: date
    kind: Kind

    def __post_init__(self) -> None:
        if self.end < self.start:
            raise ValueError(f"period ends ({self.end}) before it starts ({self.start})")
        if self.kind not in ("weekly", "monthly"):
            raise ValueError(f"period kind must be weekly or monthly, not {self.kind!r}")

    def days(self) -> list[date]:
        return _days(self.start, self.end)

    def previous(self) -> ReportPeriod:
        """The period compared against: the week before, or the previous calendar month."""
        if self.kind == "monthly":
            end = self.start - timedelta(days=1)
            return ReportPeriod(end.replace(day=1), end, "monthly")
        length = (self.end - self.start).days + 1
        return ReportPeriod(self.start - timedelta(days=length), self.start - timedelta(days=1), self.kind)

    def next(self) -> ReportPeriod:
        """The period the summary forecasts: the following week (as many days), or calendar month."""
        start = self.end + timedelta(days=1)
        if self.kind == "monthly":
            following = (start + timedelta(days=32)).replace(day=1)
            return ReportPeriod(start, following - timedelta(days=1), "monthly")
        return ReportPeriod(start, start + (self.end - self.start), self.kind)


@dataclass(frozen=True)
class SpendRow:
    """Spend of a provider (``service`` None) or of a provider's service, in one currency.
    The change is derived rather than passed in, so it can never contradict the amounts."""

    provider: str
    service: str | None
    amount: Decimal
    previous: Decimal

    @property
    def change(self) -> Decimal:
        return self.amount - self.previous

    @property
    def change_percent(self) -> Decimal | None:
        """None when there was nothing to compare with (a percentage of zero is undefined)."""
        if self.previous == 0:
            return None
        return self.change / abs(self.previous) * 100


@dataclass(frozen=True)
class ForecastPoint:
    """One forecast day: the mean and the 80% and 95% interval bounds (floats: estimates)."""

    day: date
    mean: float
    lo_80: float
    hi_80: float
    lo_95: float
    hi_95: float


@dataclass(frozen=True)
class CurrencySpend:
    """Everything the report shows about one billing currency: the tables, the daily series
    of this period and of the previous one (days without a key cost nothing), the forecast of
    the next days, and what is already billed of the next period (``next_daily``: when the
    report is made after its period, the summary's forecast of the next period starts from it)."""

    currency: str
    providers: Sequence[SpendRow]
    services: Sequence[SpendRow]
    daily: Mapping[date, Decimal]
    previous_daily: Mapping[date, Decimal]
    forecast: Sequence[ForecastPoint] = ()
    next_daily: Mapping[date, Decimal] = field(default_factory=dict)

    def __post_init__(self) -> None:
        _check_currency(self.currency)

    def has_spend(self) -> bool:
        """Any charge at all, this period or the previous one (credits count too)."""
        amounts = [*self.daily.values(), *self.previous_daily.values()]
        amounts += [row.amount for row in self.services] + [row.previous for row in self.services]
        return any(amount != 0 for amount in amounts)


@dataclass(frozen=True)
class Anomaly:
    """An anomaly as :mod:`analytics.anomalies` explains it: ``explanation`` is the drill-down
    path of (FOCUS dimension, value, share of the anomaly's gross excess, 0..1), ``others`` the
    largest other contributors met on the way, and ``names`` the readable name of an id among
    those values where one is known (an account's or a resource's name). ``series`` is what was
    watched: ``total``, or ``provider``/``service`` with ``value``."""

    title: str
    series: str
    start: date
    end: date
    currency: str
    impact: Decimal
    explanation: Sequence[tuple[str, str, float]] = ()
    value: str | None = None
    direction: str = "spike"
    others: Sequence[tuple[str, str, float]] = ()
    names: Mapping[str, str] = field(default_factory=dict)

    def __post_init__(self) -> None:
        _check_currency(self.currency)


@dataclass(frozen=True)
class Budget:
    """A budget and where it stood at the end of the reported period: ``start`` to ``end`` is
    the budget's own period (a month, quarter or year) holding the report's last day, ``spent``
    what it had spent by ``as_of`` (the report's last day, or the last billed day if earlier),
    ``forecast`` the expected spend at the budget period's end."""

    name: str
    currency: str
    amount: Decimal
    spent: Decimal
    forecast: Decimal
    start: date | None = None
    end: date | None = None
    as_of: date | None = None

    def __post_init__(self) -> None:
        _check_currency(self.currency)

    @property
    def over(self) -> Decimal:
        """How much the spend passed the amount; zero within it."""
        return max(self.spent - self.amount, Decimal(0))

    @property
    def percent(self) -> Decimal | None:
        """Share of the budget spent; None for a zero budget."""
        return self.spent / self.amount * 100 if self.amount else None

    @property
    def forecast_percent(self) -> Decimal | None:
        return self.forecast / self.amount * 100 if self.amount else None


@dataclass(frozen=True)
class Recommendation:
    title: str
    currency: str
    monthly_saving: Decimal
    detail: str = ""

    def __post_init__(self) -> None:
        _check_currency(self.currency)


@dataclass(frozen=True)
class ReportData:
    title: str
    period: ReportPeriod
    generated_at: datetime
    spend: Sequence[CurrencySpend]
    anomalies: Sequence[Anomaly] = ()
    budgets: Sequence[Budget] = ()
    recommendations: Sequence[Recommendation] = ()

    def __post_init__(self) -> None:
        if self.generated_at.tzinfo is None or self.generated_at.utcoffset() is None:
            raise ValueError("generated_at must be timezone-aware (UTC)")
        currencies = [spend.currency for spend in self.spend]
        if len(set(currencies)) != len(currencies):
            raise ValueError(f"one CurrencySpend per currency, got {currencies}")


def _check_currency(code: str) -> None:
    """ISO 4217 codes only: they end up in file names and element attributes."""
    if not _CURRENCY.match(code):
        raise ValueError(f"not an ISO 4217 currency code: {code!r}")


def _days(start: date, end: date) -> list[date]:
    return [start + timedelta(days=offset) for offset in range((end - start).days + 1)]
