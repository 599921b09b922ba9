"""The official FOCUS validator (focus-validator 2.2.1) on the converter's output.

Run with every applicability criterion, so that conditional rules are checked too. The only
failures allowed are the bundled rule model's own defects (wedcloud.focus_validator lists
them with the reason), the rules the converter's ``source-rule`` warnings name (the provider's
own data breaks them and the output keeps its values), and the composites that fail only
because of those.

Each validator run costs about 12 s, two run at a time; inputs of one kind are converted
together into one file and validated in one run.
"""

from __future__ import annotations

import json
from concurrent.futures import ThreadPoolExecutor
from datetime import date
from decimal import Decimal
from pathlib import Path

import duckdb
import pytest

from analytics.focus.convert import Converted, convert
from analytics.focus.source_rules import excused, rules_named
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
    "aws/aws_cur_legacy_2023-11_koku.csv",
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
    "focus/oci_focus_1_0_reports_layout_2026-01.csv",
    "oci/oci_cost_report_koku.csv",
    "oci/oci_cost_report_corrections_2026-01.csv",
    "oci/oci_cost_report_two_tenancies_2026-01.csv",
    "focus/focus_1_1_generic_2025-06.csv",
    "focus/saas_source_rules_broken_2026-01.csv",
]
SAAS = FIXTURES / "focus/spec_v1.2_examples/saas_examples"
# Validated together, one run per group. The commitment examples of the same folder are
# partial files (no currency, no account) that the converter refuses, so they are not here.
GROUPS = {
    "spec-saas-agreements": sorted((SAAS / "simple_agreements").glob("*.csv"))
    + sorted((SAAS / "spend_agreements").glob("*.csv")),
    "spec-virtual-currency": sorted(SAAS.glob("virtual_currency_pricing_model_*.csv")),
    # written cases of partial extracts (issue 18): converted with their explained differences
    "written-partial-extracts": [
        FIXTURES / "aws/cur_legacy_discounted_usage_without_rifee_2026-02.csv",
        FIXTURES / "azure/ea_amortized_savings_plan_2026-02.csv",
        FIXTURES / "gcp/cud_credits_without_fee_2026-02.jsonl",
    ],
}
BROKEN = "focus/saas_source_rules_broken_2026-01.csv"

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


Validated = tuple[Converted, focus_validator.ValidatorReport]


@pytest.fixture(scope="session")
def reports(
    workdir: Path, sandbox_exports: dict[FlavourKey, Path], tmp_path_factory: pytest.TempPathFactory
) -> dict[str, Validated]:
    """Every input converted, then validated once: in two validator processes at a time, each
    taking half the files (starting one costs most of a small file's run)."""
    inputs = (
        {name: [FIXTURES / name] for name in NATIVE}
        | {f"sandbox:{f}": [p] for f, p in sandbox_exports.items()}
        | {f"group:{g}": paths for g, paths in GROUPS.items()}
    )
    out_dir = tmp_path_factory.mktemp("converted")
    converted = {
        name: convert(sources, out_dir / f"{name.replace('/', '_').replace(':', '_')}.parquet")
        for name, sources in inputs.items()
    }
    names = list(converted)
    halves = [names[0::2], names[1::2]]
    with ThreadPoolExecutor(max_workers=2) as pool:
        xmls = pool.map(lambda half: focus_validator.validate_files([converted[n].path for n in half], workdir), halves)
        reports = dict(zip([n for half in halves for n in half], [x for batch in xmls for x in batch], strict=True))

    def verdict(name: str) -> focus_validator.ValidatorReport:
        virtual = any("virtual_currency" in source.name for source in inputs[name])
        return focus_validator.report(
            reports[name], workdir, virtual_currency=virtual, excused=excused(converted[name].notices)
        )

    return {name: (converted[name], verdict(name)) for name in names}


def _assert_conforms(validated: Validated) -> None:
    _, report = validated
    assert report.total > 500  # the whole 1.2 model ran
    assert [f.rule for f in report.unexplained] == []


@pytest.mark.parametrize("fixture", NATIVE)
def test_converted_fixture_fails_only_model_defects_and_warned_source_rules(
    fixture: str, reports: dict[str, Validated]
) -> None:
    _assert_conforms(reports[fixture])


@pytest.mark.parametrize("group", list(GROUPS))
def test_converted_spec_examples_fail_only_model_defects_and_warned_source_rules(
    group: str, reports: dict[str, Validated]
) -> None:
    _assert_conforms(reports[f"group:{group}"])


@pytest.mark.parametrize("flavour", list(FlavourKey))
def test_converted_sandbox_export_passes_the_official_validator(
    flavour: FlavourKey, reports: dict[str, Validated]
) -> None:
    converted, _ = reports[f"sandbox:{flavour}"]
    assert rules_named(converted.notices) == set()  # our own exports break no rule
    _assert_conforms(reports[f"sandbox:{flavour}"])


def test_source_rule_warnings_name_the_rule_and_rows_and_the_output_keeps_the_values(
    reports: dict[str, Validated], workdir: Path
) -> None:
    converted, report = reports[BROKEN]
    warned = {n.message.split(":")[0]: n for n in converted.notices if n.code == "source-rule"}
    assert set(warned) == {"ServiceName-C-005-C", "ServiceName-C-008-C", "BilledCost-C-005-C"}
    assert warned["ServiceName-C-005-C"].rows == 2
    assert "'Acme Logs' has Management and Governance, Storage" in warned["ServiceName-C-005-C"].message
    assert warned["BilledCost-C-005-C"].rows == 1
    rows = duckdb.execute(
        f"SELECT ServiceName, ServiceCategory, InvoiceIssuerName, BilledCost, x_SourceLineId "
        f"FROM read_parquet('{converted.path}') ORDER BY BilledCost"
    ).fetchall()
    assert [(r[0], r[1], r[2], r[3]) for r in rows] == [
        ("Acme Logs", "Storage", "Acme Observability", Decimal("4.00")),
        ("Acme Logs", "Management and Governance", "Acme Observability", Decimal("12.50")),
        ("Acme Metrics", "Management and Governance", "Aura Web Marketplace", Decimal("120.00")),
    ]
    assert rows[2][4] in warned["BilledCost-C-005-C"].message
    assert rows[0][4] in warned["ServiceName-C-005-C"].message
    assert rows[1][4] in warned["ServiceName-C-005-C"].message
    # without the warnings, the rules the validator fails beyond the model's defects are
    # exactly the warned ones (and the composites made of them)
    tree = focus_validator.composites(workdir / "focus_validator/rules" / focus_validator.MODEL_FILE)
    unwarned = focus_validator.parse(report.xml, tree, focus_validator.MODEL_DEFECTS)
    assert {f.rule for f in unwarned.unexplained if f.rule not in tree} == set(warned)
    assert report.unexplained == []


def test_each_allowed_model_defect_is_visible_in_the_bundled_model(workdir: Path) -> None:
    """The allowances other than warned source rules are defects of the rule model itself,
    read from the model file: a new validator that mends them makes this test fail."""
    model = json.loads((workdir / "focus_validator/rules" / focus_validator.MODEL_FILE).read_text())["ModelRules"]
    criteria = {rule: model[rule]["ValidationCriteria"] for rule in focus_validator.MODEL_DEFECTS}
    # InvoiceId: both rules lost their condition, and one demands null where the other forbids it
    assert criteria["InvoiceId-C-004-C"]["Condition"] == {} == criteria["InvoiceId-C-005-C"]["Condition"]
    # CommitmentDiscountStatus: C-004 has the same condition as C-003 and the opposite requirement
    c003 = model["CommitmentDiscountStatus-C-003-C"]["ValidationCriteria"]
    assert criteria["CommitmentDiscountStatus-C-004-C"]["Condition"] == c003["Condition"]
    assert criteria["CommitmentDiscountStatus-C-004-C"]["Requirement"]["CheckFunction"] == "CheckNotValue"
    assert c003["Requirement"]["CheckFunction"] == "CheckValue"
    # CapacityReservationStatus: the condition is a bare {"AND": ...}, without the CheckFunction the validator reads
    for rule in ("CapacityReservationStatus-C-003-C", "CapacityReservationStatus-C-004-C"):
        assert "CheckFunction" not in criteria[rule]["Condition"]
        assert "AND" in criteria[rule]["Condition"]


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
    assert report.failures  # the model's own defects fail too, but are told apart:
    failed = {f.rule for f in report.unexplained}
    assert any(rule.startswith("ChargeCategory") for rule in failed)
    assert any(rule.startswith("ListUnitPrice") for rule in failed)
