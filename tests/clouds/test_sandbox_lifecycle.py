"""The sandbox's life: created into a state store with its bills on disk, read back as a
billing source per flavour, and moved forward a day at a time."""

from __future__ import annotations

from datetime import date
from pathlib import Path

import pytest
from sqlalchemy import Engine

from clouds.sandbox.billing_source import SandboxBillingSource
from clouds.sandbox.catalog import FlavourKey
from clouds.sandbox.create import advance_sandbox, create_sandbox
from clouds.sandbox.exports import FORMAT_OF, list_exports
from clouds.sandbox.world import load_world

AS_OF = date(2026, 3, 10)
START = date(2026, 1, 1)
MONTHS = [date(2026, 1, 1), date(2026, 2, 1), date(2026, 3, 1)]


@pytest.fixture
def exports(sqlite_engine: Engine, tmp_path: Path) -> Path:
    folder = tmp_path / "exports"
    create_sandbox(sqlite_engine, folder, seed=5, as_of=AS_OF, history_start=START)
    return folder


@pytest.mark.parametrize("flavour", list(FlavourKey))
def test_each_flavours_exports_are_read_back_with_their_month_and_account(
    exports: Path, sqlite_engine: Engine, flavour: FlavourKey
) -> None:
    world = load_world(sqlite_engine)
    assert world is not None
    assert world.as_of == AS_OF
    found = list_exports(exports, flavour)
    assert sorted({e.billing_period for e in found}) == MONTHS
    assert {e.format for e in found} == {FORMAT_OF[flavour]}
    # AWS and Azure name the export, GCP the billing account (its folder spells the id with "_")
    billing = next(a.id for a in world.accounts_of(flavour) if a.role == "billing") if flavour == "gcp" else None
    expected = {FlavourKey.AWS: "wedsync-cur2", FlavourKey.AZURE: "wedsync-costdetails", FlavourKey.GCP: billing}
    assert {e.account_id for e in found} == {expected[flavour]}
    assert all(e.size_bytes == e.path.stat().st_size > 0 for e in found)


@pytest.mark.parametrize("flavour", list(FlavourKey))
def test_the_billing_source_gives_one_signature_per_month_and_fetches_that_months_files(
    exports: Path, flavour: FlavourKey
) -> None:
    source = SandboxBillingSource("sandbox-" + flavour.value, exports, flavour)
    months = source.months()
    assert sorted(months) == MONTHS
    assert len(set(months.values())) == len(MONTHS)
    february = source.fetch(date(2026, 2, 1))
    assert february
    assert all(f.month == date(2026, 2, 1) and f.path.is_file() for f in february)
    assert source.fetch(date(2025, 12, 1)) == []


def test_advancing_rewrites_only_what_changed_and_keeps_the_history(exports: Path, sqlite_engine: Engine) -> None:
    source = SandboxBillingSource("sandbox-aws", exports, FlavourKey.AWS)
    before = source.months()
    world = advance_sandbox(sqlite_engine, exports, days=25)
    assert world.as_of == date(2026, 4, 4)
    after = source.months()
    assert sorted(after) == [*MONTHS, date(2026, 4, 1)]  # a new month appears
    assert after[date(2026, 3, 1)] != before[date(2026, 3, 1)]  # March is now billed to its end
    assert load_world(sqlite_engine) == world


def test_advancing_by_less_than_a_day_or_an_unknown_world_is_refused(exports: Path, sqlite_engine: Engine) -> None:
    with pytest.raises(ValueError, match="days must be at least 1"):
        advance_sandbox(sqlite_engine, exports, days=0)
    with pytest.raises(LookupError, match="'elsewhere' does not exist"):
        advance_sandbox(sqlite_engine, exports, name="elsewhere")
    assert load_world(sqlite_engine).as_of == AS_OF  # type: ignore[union-attr]


def test_recreating_the_sandbox_replaces_the_old_bills(exports: Path, sqlite_engine: Engine) -> None:
    stale = exports / "azure" / "old-export" / "20200101-20200131" / "stale.csv"
    stale.parent.mkdir(parents=True)
    stale.write_text("left over\n")
    create_sandbox(sqlite_engine, exports, seed=5, as_of=AS_OF, history_start=START)
    assert not stale.exists()
    assert sorted({e.billing_period for e in list_exports(exports, FlavourKey.AZURE)}) == MONTHS
