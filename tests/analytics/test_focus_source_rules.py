"""FOCUS rules a provider's own data breaks: warned with the rule and rows, values kept.

The validator's verdict on the same files is in test_focus_validator.py (slow); these
tests check the warnings themselves, through the converter and through the warehouse load.
"""

from __future__ import annotations

import csv
import gzip
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


def test_a_native_export_naming_two_products_alike_is_warned_of_its_service_name(tmp_path: Path) -> None:
    """In a native export only ServiceName is the provider's own value (categories come from
    WedCloud's mapping of the product code): S3 rows named like EC2 put one name under two."""
    with gzip.open(FIXTURES / "aws/cur2_commitments_2026-01.csv.gz", "rt", encoding="utf-8", newline="") as handle:
        rows = list(csv.DictReader(handle))
    renamed = 0
    for row in rows:
        if row["line_item_product_code"] == "AmazonS3":
            row["product"] = row["product"].replace("Amazon Simple Storage Service", "Amazon Elastic Compute Cloud")
            renamed += 1
    assert renamed >= 1
    written = tmp_path / "cur2_renamed.csv"
    with written.open("w", encoding="utf-8", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)
    converted = convert([written], tmp_path / "out.parquet")
    assert rules_named(converted.notices) == {"ServiceName-C-005-C", "ServiceName-C-008-C"}
    warning = next(n for n in converted.notices if "ServiceName-C-005-C" in n.message)
    assert "'Amazon Elastic Compute Cloud' has Compute, Storage" in warning.message
    untouched = convert([FIXTURES / "aws/cur2_commitments_2026-01.csv.gz"], tmp_path / "plain.parquet")
    assert rules_named(untouched.notices) == set()


def test_a_rule_id_inside_the_providers_values_excuses_no_validator_rule(tmp_path: Path) -> None:
    """Only the rule a warning starts with is excused: a ServiceName that spells another rule's
    id must not switch that rule off in the validator's verdict."""
    text = BROKEN.read_text(encoding="utf-8")
    assert "Acme Logs" in text
    written = tmp_path / "rule_in_a_name.csv"
    written.write_text(text.replace("Acme Logs", "Acme BilledCost-C-002-M ListCost-C-004-C"), encoding="utf-8")
    converted = convert([written], tmp_path / "out.parquet")
    assert any("BilledCost-C-002-M" in n.message for n in converted.notices)  # quoted...
    assert rules_named(converted.notices) == rules_named(convert([BROKEN], tmp_path / "plain.parquet").notices)
    assert "BilledCost-C-002-M" not in rules_named(converted.notices)  # ...but not excused
