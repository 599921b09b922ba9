"""What a drill recommends when it misses a target, with what the change would cost a month.

RPO missed: back up more often. The cost is the snapshot storage the new schedule keeps,
under a stated model: incremental snapshots hold the blocks changed since the one before;
``DAILY_CHANGE`` of the data changes a day; each snapshot holds at least ``MIN_INCREMENT`` of
it (blocks written twice, metadata); a cross-region copy is stored again and its changed data
crosses regions. Prices are the clouds' published standard-tier snapshot list prices
(approximate, late 2025), not the account's own rates.

RTO missed: the slowest restore sets the time; a warm standby of that resource in the DR
region (its own hourly cost, kept running) takes the restore out of the recovery.
"""

from __future__ import annotations

import itertools
from datetime import UTC, datetime, timedelta
from decimal import ROUND_HALF_UP, Decimal
from typing import Any

from croniter import CroniterError, croniter

from analytics.money import format_amount

HOURS_A_MONTH = Decimal(730)
DAILY_CHANGE = Decimal("0.05")
MIN_INCREMENT = Decimal("0.002")
# standard-tier snapshot storage, USD per GB-month, and copying between regions, USD per GB
SNAPSHOT_GB_MONTH = {"aws": Decimal("0.05"), "azure": Decimal("0.05"), "gcp": Decimal("0.065")}
COPY_TRANSFER_GB = {"aws": Decimal("0.02"), "azure": Decimal("0.02"), "gcp": Decimal("0.02")}
INTERVALS = [timedelta(hours=h) for h in (24, 12, 8, 6, 4, 3, 2, 1)] + [timedelta(minutes=30), timedelta(minutes=15)]
CRON_OF = {timedelta(hours=24): "0 0 * * *", timedelta(minutes=30): "*/30 * * * *",
           timedelta(minutes=15): "*/15 * * * *"}  # fmt: skip


def interval_of(schedule: str, now: datetime | None = None) -> timedelta:
    """The longest gap between two of the schedule's next 50 times: what the RPO can grow to."""
    it = croniter(schedule, now or datetime.now(UTC))
    times = [it.get_next(datetime) for _ in range(50)]
    gaps: list[timedelta] = [b - a for a, b in itertools.pairwise(times)]
    return max(gaps)


def _cron(interval: timedelta) -> str:
    hours = int(interval.total_seconds() // 3600)
    return CRON_OF.get(interval) or f"0 */{hours} * * *"


def _hours(interval: timedelta) -> str:
    seconds = interval.total_seconds()
    return f"{seconds / 3600:g} h" if seconds >= 3600 else f"{seconds / 60:g} min"


def monthly_backup_cost(data_gb: Decimal, interval: timedelta, window: timedelta, *, cloud: str,
                        copies: bool) -> Decimal:  # fmt: skip
    """Snapshot storage (and copy transfer) a month of backups every ``interval``, kept for ``window``."""
    days = Decimal(str(interval.total_seconds() / 86400))
    increment = max(DAILY_CHANGE * days, MIN_INCREMENT) * data_gb
    kept = Decimal(max(1, int(window / interval)))
    stored = data_gb + increment * kept
    price = SNAPSHOT_GB_MONTH.get(cloud, SNAPSHOT_GB_MONTH["aws"])
    cost = stored * price
    if copies:
        per_month = Decimal(30) / days
        cost += stored * price + increment * per_month * COPY_TRANSFER_GB.get(cloud, COPY_TRANSFER_GB["aws"])
    return cost.quantize(Decimal("0.01"), rounding=ROUND_HALF_UP)


def rpo_advice(*, measured: float, target: int, schedule: str, retention: dict[str, Any], data_gb: Decimal,
               cloud: str, copies: bool) -> dict[str, Any] | None:  # fmt: skip
    if measured <= target:
        return None
    try:
        current = interval_of(schedule)
    except (CroniterError, ValueError):  # a schedule stored before the plan checks refused it: no advice
        return None
    fitting = [i for i in INTERVALS if i.total_seconds() * 2 <= target]
    head = f"RPO {measured / 3600:.1f} h > target {target / 3600:.1f} h: backups run every {_hours(current)}"
    if not fitting:
        return {"kind": "rpo", "message": f"{head}; snapshots cannot keep an RPO under 30 minutes: replicate the "
                "data continuously (a cross-region database replica)", "monthly_cost_change": None}  # fmt: skip
    proposed = fitting[0]
    count = retention.get("retention_count")
    window = (
        timedelta(days=retention["retention_days"]) if retention.get("retention_days") else current * int(count or 1)
    )
    before = monthly_backup_cost(data_gb, current, window, cloud=cloud, copies=copies)
    after = monthly_backup_cost(data_gb, proposed, window, cloud=cloud, copies=copies)
    change = after - before
    keep = f"; keep {int(window / proposed)} to cover the same {_hours(window)}" if count else ""
    return {
        "kind": "rpo",
        "message": (
            f"{head}; every {_hours(proposed)} (schedule '{_cron(proposed)}'{keep}) would cost about "
            f"{format_amount(change)} USD a month more for {data_gb} GB"
        ),
        "schedule": _cron(proposed),
        "monthly_cost_change": str(change),
        "currency": "USD",
        "basis": (
            f"{SNAPSHOT_GB_MONTH.get(cloud, SNAPSHOT_GB_MONTH['aws'])} USD per GB-month of snapshots "
            f"(list price, approximate), {DAILY_CHANGE * 100}% of the data changing a day"
        ),
    }


def rto_advice(*, measured: float, target: int, slowest: dict[str, Any] | None,
               hourly_cost: Decimal | None, currency: str | None) -> dict[str, Any] | None:  # fmt: skip
    if measured <= target or slowest is None:
        return None
    head = (f"RTO {measured / 60:.1f} min > target {target / 60:.1f} min: restoring {slowest['name']} took "
            f"{slowest['seconds'] / 60:.1f} min")  # fmt: skip
    if hourly_cost is None:
        return {"kind": "rto", "message": f"{head}; keep a warm standby of it in the DR region (its price is "
                "unknown until the inventory has it)", "monthly_cost_change": None}  # fmt: skip
    monthly = (hourly_cost * HOURS_A_MONTH).quantize(Decimal("0.01"), rounding=ROUND_HALF_UP)
    return {
        "kind": "rto",
        "message": (
            f"{head}; a warm standby of it in the DR region would take the restore out of the recovery, "
            f"for about {format_amount(monthly)} {currency or 'USD'} a month"
        ),
        "monthly_cost_change": str(monthly),
        "currency": currency or "USD",
        "basis": "the resource's own hourly cost x 730 h",
    }
