"""The official FOCUS validator (focus-validator 2.2.1) on the converter's output.

Run with every applicability criterion, so that conditional rules are checked too. The only
failures allowed are the bundled rule model's own defects (wedcloud.focus_validator lists
them with the reason), and the composites that fail only because of them.
"""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from datetime import date
from pathlib import Path

import pytest

from analytics.focus.convert import convert
from clouds.sandbox.catalog import FlavourKey
from clouds.sandbox.create import write_exports
from clouds.sandbox.world import build_world
from tests.conftest import require
from wedcloud import focus_validator

FIXTURES = Path(__file__).parents[1] / "fixtures"
NATIVE = [
    "aws/aws_cur_legacy_anonymized_focusconverters.csv",
    "aws/cur2_commitments_2026-01.csv.gz",
    "aws/aws_focus_1_2_with_aws_columns_2026-01.csv",
    "aws/cur_legacy_sp_covered_2023-06_koku.csv",
    "azure/azure_ea_costdetails_anonymized_focusconverters.csv",
    "azure/mca_actual_2026-01.csv",
    "azure/ea_amortized_2026-01.csv",
    "azure/legacy_usage_pretaxcost_2019-06.csv",
    "azure/focuscost_1_0_2026-01.csv",
    "azure/cost_query_2026-01.jsonl",
    "aws/cost_explorer_2026-01.jsonl",
    "gcp/gcp_bq_export_2020-11_koku.csv",
    "gcp/detailed_export_2026-01.jsonl",
    "gcp/gcp_focus_export_2026-01.csv",
    "focus/oci_focus_1_0_2026-01.csv",
    "focus/focus_1_1_generic_2025-06.csv",
    "focus/spec_v1.2_examples/saas_examples/spend_agreements/saas_spend_agreements_b2.csv",
    "focus/spec_v1.2_examples/saas_examples/simple_agreements/simple_saas_agreements_c.csv",
    "focus/spec_v1.2_examples/saas_examples/virtual_currency_pricing_model_a2.csv",
]

pytestmark = [pytest.mark.integration, pytest.mark.slow]


@pytest.fixture(scope="session")
def workdir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("focus-validator")
    try:
        focus_validator.prepare_workdir(folder)
    except focus_validator.ValidatorUnavailable as exc:
        require(False, f"the FOCUS validator cannot run here: {exc}")
    return folder


@pytest.fixture(scope="session")
def sandbox_exports(tmp_path_factory: pytest.TempPathFactory) -> dict[FlavourKey, Path]:
    world = build_world(21, date(2026, 2, 1), date(2026, 1, 1))
    written = write_exports(world, tmp_path_factory.mktemp("sandbox-exports"))
    return {flavour: paths[0] for flavour, paths in written.items()}


@pytest.fixture(scope="session")
def reports(
    workdir: Path, sandbox_exports: dict[FlavourKey, Path], tmp_path_factory: pytest.TempPathFactory
) -> dict[str, focus_validator.ValidatorReport]:
    """Every input converted and validated once; the validator runs two at a time (each run
    spends most of its dozen seconds starting Python and loading the model)."""
    inputs = {name: FIXTURES / name for name in NATIVE} | {f"sandbox:{f}": p for f, p in sandbox_exports.items()}
    out_dir = tmp_path_factory.mktemp("converted")

    def validate(item: tuple[str, Path]) -> tuple[str, focus_validator.ValidatorReport]:
        name, source = item
        out = out_dir / f"{name.replace('/', '_').replace(':', '_')}.parquet"
        convert([source], out)
        return name, focus_validator.run(out, workdir, virtual_currency="virtual_currency" in source.name)

    with ThreadPoolExecutor(max_workers=2) as pool:
        return dict(pool.map(validate, inputs.items()))


def _assert_conforms(report: focus_validator.ValidatorReport) -> None:
    assert report.total > 500  # the whole 1.2 model ran
    assert [f.rule for f in report.unexplained] == []


@pytest.mark.parametrize("fixture", NATIVE)
def test_converted_fixture_passes_the_official_validator(
    fixture: str, reports: dict[str, focus_validator.ValidatorReport]
) -> None:
    _assert_conforms(reports[fixture])


@pytest.mark.parametrize("flavour", list(FlavourKey))
def test_converted_sandbox_export_passes_the_official_validator(
    flavour: FlavourKey, reports: dict[str, focus_validator.ValidatorReport]
) -> None:
    _assert_conforms(reports[f"sandbox:{flavour}"])


def test_the_validator_does_fail_a_file_that_breaks_the_rules(workdir: Path, tmp_path: Path) -> None:
    """The harness is not blind: a negative cost unit price and a lower-case category fail."""
    import duckdb

    good = tmp_path / "good.parquet"
    convert([FIXTURES / "focus/oci_focus_1_0_2026-01.csv"], good)
    bad = tmp_path / "bad.parquet"
    duckdb.sql(
        f"COPY (SELECT * REPLACE ('usage' AS ChargeCategory, -1.0 AS ListUnitPrice) FROM read_parquet('{good}')) "
        f"TO '{bad}' (FORMAT parquet)"
    )
    report = focus_validator.run(bad, workdir)
    failed = {f.rule for f in report.unexplained}
    assert any(rule.startswith("ChargeCategory") for rule in failed)
    assert any(rule.startswith("ListUnitPrice") for rule in failed)
