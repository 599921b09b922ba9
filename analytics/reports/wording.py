"""The report in plain words: periods, anomaly explanations, budgets and recommendations as a
finance reader says them, never as columns or ids.

Why here: the same sentence appears in the summary, in a table and in its CSV, so it is made
once. Everything is a pure function of the report's data; names of accounts and resources are
looked up by the caller (:mod:`analytics.reports.data`) and passed in, and an id without a name
is shortened to the part a person recognises (the last segment of a path or an ARN).
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from datetime import date
from decimal import ROUND_HALF_UP, Decimal
from typing import Any

from analytics.money import format_amount
from analytics.reports.model import Anomaly, Budget, Kind, ReportPeriod, SpendRow

# FOCUS dimensions as words; the provider and the service need none ("AWS", "Amazon EC2").
_DIMENSIONS = {
    "ProviderName": "",
    "ServiceName": "",
    "ServiceCategory": "category",
    "BillingAccountId": "billing account",
    "SubAccountId": "account",
    "RegionId": "region",
    "ResourceId": "resource",
    "ResourceType": "resource type",
    "ChargeCategory": "charge category",
    "PricingCategory": "pricing category",
}


def money(amount: Decimal, currency: str) -> str:
    """An amount with its currency first, rounded half up to cents (``USD 1234.50``)."""
    return f"{currency} {format_amount(amount)}"


def percent_text(value: Decimal | None, *, signed: bool = False) -> str:
    """One decimal place, half up; empty when undefined (nothing to compare with)."""
    if value is None:
        return ""
    rounded = value.quantize(Decimal("0.1"), rounding=ROUND_HALF_UP)
    return f"{rounded:+f}%" if signed and rounded != 0 else f"{rounded:f}%"


def day_text(day: date) -> str:
    return f"{day.day} {day:%b %Y}"


def period_text(period: ReportPeriod) -> str:
    """``November 2026`` for a calendar month, ``23-29 Nov 2026`` for days within one month."""
    start, end = period.start, period.end
    if period.kind == "monthly" and start.day == 1:
        return f"{start:%B %Y}"
    if (start.year, start.month) == (end.year, end.month):
        return f"{start.day}–{end.day} {end:%b %Y}"
    if start.year == end.year:
        return f"{start.day} {start:%b} – {end.day} {end:%b %Y}"
    return f"{day_text(start)} – {day_text(end)}"


def change_text(row: SpendRow, currency: str) -> str:
    """``up USD 873.58 (+27.9%)``, ``down USD 12.00 (-3.1%)``, ``new`` or ``unchanged``."""
    if row.change == 0:
        return "unchanged"
    word = "up" if row.change > 0 else "down"
    percent = percent_text(row.change_percent, signed=True)
    return f"{word} {money(abs(row.change), currency)}" + (f" ({percent})" if percent else ", new this period")


def short_id(value: str) -> str:
    """What a person calls a resource without a name: the last part of a path or an ARN."""
    return re.split(r"[/:]", value.rstrip("/"))[-1] or value


def _word(dimension: str) -> str:
    if dimension in _DIMENSIONS:
        return _DIMENSIONS[dimension]
    spaced = re.sub(r"(?<=[a-z])(?=[A-Z])", " ", dimension.removeprefix("x_")).lower()
    return spaced.removesuffix(" id")


def thing(dimension: str, value: str, names: Mapping[str, str]) -> str:
    """One dimension value in words: ``account wedsync-dev``, ``region eu-west-2``, ``AWS``."""
    name = names.get(value) or (short_id(value) if dimension == "ResourceId" else value)
    return f"{_word(dimension)} {name}".strip()


def _share_text(share: float) -> str:
    return "All" if share >= 0.995 else f"{share * 100:.0f}%"


def explanation_text(anomaly: Anomaly) -> str:
    """Where the anomaly came from, in words: ``All of the increase came from Amazon Elastic
    Compute Cloud on AWS, account wedsync-dev, region eu-west-2. Largest parts: resource
    i-01f... (26%), ...``. Empty when the anomaly was not explained."""
    path = list(anomaly.explanation)
    dimensions = [dimension for dimension, _, _ in path]
    if "SubAccountId" in dimensions:  # the account says more than the billing account above it
        path = [step for step in path if step[0] != "BillingAccountId"]
    sentences = []
    if path:
        values = {dimension: value for dimension, value, _ in path}
        provider, service = values.pop("ProviderName", None), values.pop("ServiceName", None)
        head = f"{service} on {provider}" if service and provider else service or provider
        parts = [head] if head else []
        parts += [thing(dimension, value, anomaly.names) for dimension, value in values.items()]
        moved = "increase" if anomaly.direction != "drop" else "decrease"
        sentences.append(f"{_share_text(path[-1][2])} of the {moved} came from {', '.join(parts)}.")
    if anomaly.others:
        listed = ", ".join(f"{thing(d, v, anomaly.names)} ({share * 100:.0f}%)" for d, v, share in anomaly.others)
        sentences.append(f"Largest parts: {listed}.")
    return " ".join(sentences)


def watched_text(anomaly: Anomaly) -> str:
    """What the anomaly was found in: ``all spend``, or the provider's or service's name."""
    return "all spend" if anomaly.value is None else anomaly.value


def anomaly_text(anomaly: Anomaly) -> str:
    """One line for the summary: what, when, how much, and where from."""
    same = anomaly.start == anomaly.end
    days = day_text(anomaly.start) if same else period_text(ReportPeriod(anomaly.start, anomaly.end, "weekly"))
    above = "above" if anomaly.impact >= 0 else "below"
    head = f"{anomaly.direction.capitalize()} in {watched_text(anomaly)}, {days}: "
    head += f"{money(abs(anomaly.impact), anomaly.currency)} {above} the expected spend."
    why = explanation_text(anomaly)
    return f"{head} {why}" if why else head


def budget_status(budget: Budget) -> str:
    """``over by USD 347.30``, ``forecast to pass it by USD 12.00`` or ``within budget``."""
    if budget.spent >= budget.amount:
        return f"over by {money(budget.over, budget.currency)}"
    if budget.forecast >= budget.amount:
        return f"forecast to pass it by {money(budget.forecast - budget.amount, budget.currency)}"
    return "within budget"


def budget_period_text(budget: Budget) -> str:
    if budget.start is None or budget.end is None:
        return ""
    kind: Kind = "monthly" if budget.start.day == 1 and (budget.end - budget.start).days < 31 else "weekly"
    return period_text(ReportPeriod(budget.start, budget.end, kind))


def budget_text(budget: Budget) -> str:
    """``AWS development monthly, November 2026: USD 1137.30 of USD 790.00 (144.0%), over by ...``."""
    period = budget_period_text(budget)
    through = ""
    if budget.as_of is not None and budget.end is not None and budget.as_of < budget.end:
        through = f" by {day_text(budget.as_of)}"
    percent = f" ({percent_text(budget.percent)})" if budget.percent is not None else ""
    spent = f"{money(budget.spent, budget.currency)} of {money(budget.amount, budget.currency)}{percent}"
    return f"{budget.name}{', ' + period if period else ''}: {spent} spent{through}, {budget_status(budget)}."


# -- recommendations -------------------------------------------------------------------------------
_COMMITMENTS = {"savings_plan": "compute savings plan", "reserved": "reservation", "cud": "committed use discount"}
_UNATTACHED = {"unattached_disk": "the unattached disk", "unattached_ip": "the unused IP address"}


def _commitment_words(target: str) -> tuple[str, str]:
    """``savings_plan:1y:upfront=0`` -> (``1-year compute savings plan``, ``no upfront payment``)."""
    kind, _, rest = target.partition(":")
    term, _, upfront = rest.partition(":")
    years = term.removesuffix("y")
    product = _COMMITMENTS.get(kind, kind.replace("_", " "))
    fraction = upfront.partition("=")[2]
    partly = f"{fraction} paid upfront" if fraction else ""
    paid = {"0": "no upfront payment", "1": "paid upfront"}.get(fraction, partly)
    return (f"{years}-year {product}" if years.isdigit() else product), paid


def _percent(evidence: Mapping[str, Any], prefix: str) -> str | None:
    for key, value in evidence.items():
        if key.startswith(prefix) and isinstance(value, int | float):
            return f"{value:.0f}%" if value >= 10 else f"{value:.1f}%"
    return None


def recommendation_text(
    *,
    kind: str,
    action: str,
    target: str | None,
    name: str,
    provider: str,
    currency: str,
    evidence: Mapping[str, Any],
    account: str | None = None,
) -> tuple[str, str]:
    """What to do, as a sentence with a verb and the resource's name, and why in a few words.
    ``name`` is the resource's name (or its shortened id); ``provider`` the registered
    provider's name; ``account`` the account's name when known (never an id)."""
    where = f" ({provider})" if provider else ""
    if action == "purchase":
        product, paid = _commitment_words(target or "")
        hourly = evidence.get("chosen_hourly_commitment")
        rate = f" at {currency} {hourly} an hour" if hourly else ""
        scope = f" for {account}" if account else ""
        title = f"Buy a {product}{rate}{scope}{where}" + (f", {paid}" if paid else "")
        coverage = evidence.get("coverage")
        days = evidence.get("lookback_days")
        why = f"would have covered {float(coverage) * 100:.0f}% of the eligible usage" if coverage is not None else ""
        return title, why + (f" of the last {days} days" if why and days else "")
    current = evidence.get("current", {}).get("type") if isinstance(evidence.get("current"), dict) else None
    if action == "resize":
        title = f"Resize {name}{where}" + (f" from {current}" if current else "") + f" to {target}"
        cpu, memory = _percent(evidence, "cpu_p"), _percent(evidence, "memory_p")
        days = evidence.get("window_days")
        used = ", ".join(x for x in (cpu and f"CPU peaks at {cpu}", memory and f"memory at {memory}") if x)
        return title, used + (f" over {days} days" if used and days else "")
    if action == "stop":
        size = evidence.get("type")
        title = f"Stop {name}{where}" + (f", an idle {size}" if size else ", which is idle")
        cpu, days = _percent(evidence, "cpu_p"), evidence.get("window_days")
        return title, (f"CPU under {cpu} for {days} days" if cpu and days else "idle")
    if action == "schedule":
        return f"Switch {name}{where} off out of hours", target or ""
    if action == "delete":
        what = _UNATTACHED.get(kind, "")
        days = evidence.get("unattached_days")
        return f"Delete {what + ' ' if what else ''}{name}{where}", (f"unattached for {days} days" if days else "")
    if action == "terminate":
        days = evidence.get("stopped_days")
        return f"Terminate {name}{where}", (f"stopped for {days} days and still billed" if days else "")
    verb = action.replace("_", " ").capitalize()
    return f"{verb} {name}{where}" + (f": {target}" if target else ""), kind.replace("_", " ")


def saving_text(monthly_saving: Decimal, currency: str) -> str:
    return f"saves {money(monthly_saving, currency)} a month"


def total_savings(items: Sequence[tuple[str, Decimal]]) -> list[str]:
    """Per currency, never added across currencies: ``USD 1234.50``."""
    sums: dict[str, Decimal] = {}
    for currency, amount in items:
        sums[currency] = sums.get(currency, Decimal(0)) + amount
    return [money(amount, currency) for currency, amount in sorted(sums.items())]
