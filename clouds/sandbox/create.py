"""Create (or re-create) the sandbox: world in the state store, bills on disk."""

from __future__ import annotations

import shutil
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date, timedelta
from decimal import ROUND_DOWN, Decimal
from pathlib import Path

from sqlalchemy import Engine, select, update

from clouds.sandbox import state
from clouds.sandbox.blueprint import PLANTED_BUDGETS, BudgetSpec
from clouds.sandbox.catalog import FLAVOURS, FlavourKey
from clouds.sandbox.exports import aws_cur2, azure_cost_details, gcp_bigquery
from clouds.sandbox.exports.common import month_of
from clouds.sandbox.usage import Charge, Meter
from clouds.sandbox.world import DEFAULT_WORLD, World, build_world, load_world, save_world

DEFAULT_SEED = 20260214
WRITERS: dict[FlavourKey, Callable[[World, list[Charge], Path], list[Path]]] = {
    FlavourKey.AWS: aws_cur2.write,
    FlavourKey.AZURE: azure_cost_details.write,
    FlavourKey.GCP: gcp_bigquery.write,
}


@dataclass(frozen=True)
class PlantedBudget:
    spec: BudgetSpec
    amount: Decimal
    currency: str
    scope: dict[str, str]
    overrun_month: date


def write_exports(world: World, exports_dir: Path, meter: Meter | None = None) -> dict[FlavourKey, list[Path]]:
    """Write every flavour's bills for the whole history, replacing earlier files."""
    meter = meter or Meter(world)
    written = {}
    for flavour in FlavourKey:
        root = exports_dir / flavour.value
        if root.exists():
            shutil.rmtree(root)
        written[flavour] = WRITERS[flavour](world, list(meter.charges(flavour)), root)
    return written


def planted_budgets(world: World, meter: Meter | None = None) -> list[PlantedBudget]:
    """Budgets set so that exactly one month overruns: the amount sits halfway between the
    scope's most expensive month and its second most expensive, rounded down to 10."""
    meter = meter or Meter(world)
    out = []
    for spec in PLANTED_BUDGETS:
        account = next(a for a in world.accounts_of(spec.flavour) if a.role == spec.account_role)
        monthly: dict[date, Decimal] = {}
        for charge in meter.charges(spec.flavour):
            if charge.resource.account_id == account.id:
                monthly[month_of(charge.day)] = monthly.get(month_of(charge.day), Decimal(0)) + charge.cost
        ranked = sorted(monthly.items(), key=lambda item: item[1], reverse=True)
        if len(ranked) < 2:
            continue
        flavour = FLAVOURS[spec.flavour]
        top, second = (amount * flavour.usd_to_billing for _, amount in ranked[:2])
        amount = ((top + second) / 2 / 10).quantize(Decimal(1), rounding=ROUND_DOWN) * 10
        out.append(
            PlantedBudget(
                spec=spec,
                amount=amount,
                currency=flavour.billing_currency,
                scope={"provider": flavour.provider_name, "sub_account_id": account.id},
                overrun_month=ranked[0][0],
            )
        )
    return out


def create_sandbox(
    engine: Engine,
    exports_dir: Path,
    *,
    seed: int = DEFAULT_SEED,
    as_of: date,
    history_start: date | None = None,
) -> World:
    """Build the world, store it, and write its bills. Same arguments, same bytes."""
    world = build_world(seed, as_of, history_start)
    save_world(engine, world)
    write_exports(world, exports_dir)
    return world


def advance_sandbox(engine: Engine, exports_dir: Path, *, days: int = 1, name: str = DEFAULT_WORLD) -> World:
    """Move the sandbox's today forward by ``days`` and rewrite its bills, so the days since
    bill what the adapter changed meanwhile (a resize shows at its new rate from the hour it
    happened). The world's history and every recorded event are kept."""
    if days < 1:
        raise ValueError(f"days must be at least 1, not {days}")
    with engine.begin() as connection:
        found = connection.execute(select(state.worlds.c.as_of).where(state.worlds.c.name == name)).one_or_none()
        if found is None:
            raise LookupError(f"the sandbox world {name!r} does not exist")
        connection.execute(
            update(state.worlds).where(state.worlds.c.name == name).values(as_of=found.as_of + timedelta(days=days))
        )
    world = load_world(engine, name)
    assert world is not None
    write_exports(world, exports_dir)
    return world
