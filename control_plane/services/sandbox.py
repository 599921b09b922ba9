"""Set up the sandbox cloud in a WedCloud home: world, bills, providers and budgets."""

from __future__ import annotations

from datetime import date

from sqlalchemy import Engine, select
from sqlalchemy.orm import Session

from clouds.sandbox.catalog import FlavourKey
from clouds.sandbox.create import create_sandbox, planted_budgets
from clouds.sandbox.world import World, default_history_start, load_world
from control_plane.services.providers import create_sandbox_provider
from control_plane.store.models import Budget, Provider
from wedcloud.home import HomeLayout

DEMO_PROVIDER_NAMES = {flavour: f"sandbox-{flavour.value}" for flavour in FlavourKey}


def build_sandbox(engine: Engine, layout: HomeLayout, *, seed: int, as_of: date, months: int) -> World:
    """(Re)create the sandbox world in the store and its bills under ``layout.exports``."""
    layout.ensure()
    return create_sandbox(
        engine, layout.exports, seed=seed, as_of=as_of, history_start=default_history_start(as_of, months)
    )


def current_world(engine: Engine) -> World | None:
    return load_world(engine)


def register_sandbox_providers(session: Session) -> list[Provider]:
    """One provider per flavour, named ``sandbox-<flavour>``; existing ones are kept."""
    providers = []
    for flavour, name in DEMO_PROVIDER_NAMES.items():
        existing = session.scalar(select(Provider).where(Provider.name == name))
        providers.append(
            existing
            or create_sandbox_provider(session, name=name, flavour=flavour, default_region=None, tags={"demo": "true"})
        )
    return providers


def register_planted_budgets(session: Session, world: World) -> list[Budget]:
    """The sandbox's planted budgets, created or updated to the current world's amounts."""
    budgets = []
    for planted in planted_budgets(world):
        budget = session.scalar(select(Budget).where(Budget.name == planted.spec.name))
        if budget is None:
            budget = Budget(name=planted.spec.name)
            session.add(budget)
        budget.scope = planted.scope
        budget.amount = planted.amount
        budget.currency = planted.currency
        budget.period = planted.spec.period
        budget.thresholds = {"actual": [50, 80, 100], "forecast": [100]}
        budget.notes = f"planted by the sandbox: overruns in {planted.overrun_month:%B %Y}"
        budgets.append(budget)
    session.flush()
    return budgets
