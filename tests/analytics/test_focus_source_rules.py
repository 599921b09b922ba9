"""FOCUS rules a provider's own data breaks: warned with the rule and rows, values kept.

The validator's verdict on the same files is in test_focus_validator.py (slow); these
tests check the warnings themselves, through the converter and through the warehouse load.
"""

from __future__ import annotations

from datetime import date
from decimal import Decimal
from pathlib import Path

import duckdb

from analytics.focus.convert import convert
from analytics.focus.source_rules import rules_named
from analytics.ingest import replace_month
from analytics.warehouse import ensure_schema

FIXTURES = Path(__file__).parents[1] / "fixtures"
BROKEN = FIXTURES / "focus/saas_source_rules_broken_2026-01.csv"
SPEND = FIXTURES / "focus/spec_v1.2_examples/saas_examples/spend_agreements/saas_spend_agreements_a1.csv"


def test_the_warehouse_load_warns_of_the_same_source_rules_as_convert(tmp_path: Path) -> None:
    converted = convert([BROKEN], tmp_path / "out.parquet")
    with duckdb.connect() as con:
        con.execute("SET TimeZone = 'UTC'")
        ensure_schema(con)
        loaded = replace_month(con, source_id="acme", month=date(2026, 1, 1), files=[(BROKEN, None)])
        kept = con.execute(
            "SELECT BilledCost FROM focus_costs WHERE InvoiceIssuerName = 'Aura Web Marketplace'"
        ).fetchall()
    [file] = loaded.files
    assert rules_named(file.notices) == {"ServiceName-C-005-C", "ServiceName-C-008-C", "BilledCost-C-005-C"}
    assert sorted(n.message for n in file.notices) == sorted(n.message for n in converted.notices)
    assert kept == [(Decimal("120.00"),)]


def test_values_outside_the_allowed_lists_are_warned_with_the_values_and_kept(tmp_path: Path) -> None:
    converted = convert([SPEND], tmp_path / "out.parquet")
    by_rule = {n.message.split(":")[0]: n for n in converted.notices}
    assert set(by_rule) == {"ServiceCategory-C-003-M", "ServiceSubcategory-C-003-M"}
    assert by_rule["ServiceCategory-C-003-M"].rows == 4
    assert "'Database'" in by_rule["ServiceCategory-C-003-M"].message
    assert "'No-SQL DB'" in by_rule["ServiceSubcategory-C-003-M"].message
    categories = duckdb.execute(f"SELECT DISTINCT ServiceCategory FROM read_parquet('{tmp_path / 'out.parquet'}')")
    assert categories.fetchall() == [("Database",)]


def test_a_file_that_keeps_every_rule_gets_no_source_rule_warning(tmp_path: Path) -> None:
    converted = convert([FIXTURES / "focus/oci_focus_1_0_2026-01.csv"], tmp_path / "out.parquet")
    assert [n for n in converted.notices if n.code == "source-rule"] == []
