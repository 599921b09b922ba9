"""Provider units into FOCUS 1.2 UnitFormat, with quantities and prices scaled by the block.

The grammar below is written from the FOCUS 1.2 UnitFormat attribute (its unit list and its
five shapes), independently of the mapper's own tables, so a wrong mapping fails here.
"""

from __future__ import annotations

import csv
import re
from decimal import Decimal, localcontext
from pathlib import Path

import duckdb
import pytest

from analytics.focus.convert import convert
from analytics.focus.formats.base import UnitMap
from analytics.focus.normalise import open_source
from analytics.focus.units import map_unit

FIXTURES = Path(__file__).parents[1] / "fixtures"
LISTS = Path(__file__).parents[2] / "analytics" / "focus" / "unit_lists"

# FOCUS 1.2, attribute UnitFormat
_SIZES = "b|Kb|Mb|Gb|Tb|Pb|Eb|B|KB|MB|GB|TB|PB|EB|Kib|Mib|Gib|Tib|Pib|Eib|KiB|MiB|GiB|TiB|PiB|EiB"
_ONE = "Year|Month|Day|Hour|Minute|Second"
_MANY = "Years|Months|Days|Hours|Minutes|Seconds"
_COUNT = r"[A-Za-z][A-Za-z0-9]*(?: [A-Za-z][A-Za-z0-9]*)*"
_UNIT = f"(?:{_SIZES}|{_MANY}|{_COUNT})"
_SHAPES = [
    rf"{_UNIT}",  # <plural-units>
    rf"(?:{_SIZES}|{_COUNT})-(?:{_MANY})",  # <singular-unit>-<plural-time-units>
    rf"(?:{_SIZES}|{_COUNT}|{_MANY})/(?:{_ONE})",  # <plural-units>/<singular-time-unit>
    rf"[1-9][0-9]* {_UNIT}",  # <quantity> <plural-units>, a whole number
    rf"(?:{_SIZES}|{_COUNT}|{_MANY})/[1-9][0-9]* (?:{_MANY})",  # <plural-units>/<interval> <plural-time-units>
]
# a listed term must keep the spec's capitalisation ("gigabyte-seconds" is not "GB-Seconds")
_MISCASED = re.compile(rf"\b(?!(?:{_SIZES}|{_ONE}|{_MANY})\b)(?i:{_SIZES}|{_ONE}|{_MANY})\b")


def in_unit_format(value: str) -> bool:
    return any(re.fullmatch(shape, value) for shape in _SHAPES) and not _MISCASED.search(value)


def provider_units(name: str) -> list[str]:
    with (LISTS / name).open(encoding="utf-8") as handle:
        rows = list(csv.reader(line for line in handle if not line.startswith("#")))
    return [row[0] for row in rows[1:]]


# what the Azure list holds that no reading can be sure of: kept as written, with a notice
AZURE_UNMAPPED = {"10000 1,000s", "10000s"}


def test_the_checker_refuses_what_unit_format_refuses() -> None:
    assert in_unit_format("GB-Hours")
    assert in_unit_format("Units/3 Months")
    assert in_unit_format("1000 Requests")
    for wrong in ("1/Month", "gigabyte-seconds", "GB/Months", "0.5 Hours", "1 GB/月", "Hrs/hour"):
        assert not in_unit_format(wrong), wrong


@pytest.mark.parametrize("name", ["azure_unit_of_measure.csv", "aws_pricing_unit.csv", "gcp_pricing_unit.csv"])
def test_every_listed_provider_unit_lands_in_unit_format(name: str) -> None:
    units = provider_units(name)
    assert len(units) > 15
    unmapped, wrong = set(), []
    for raw in units:
        reading = map_unit(raw)
        assert reading is not None, raw
        if not reading.mapped:
            unmapped.add(raw)
            assert reading.unit == raw.strip()
        elif not (in_unit_format(reading.pricing_unit) and in_unit_format(reading.unit)):
            wrong.append((raw, reading.unit, reading.pricing_unit))
    assert wrong == []
    assert unmapped == (AZURE_UNMAPPED if name.startswith("azure") else set())


@pytest.mark.parametrize(
    ("raw", "unit", "block"),
    [
        ("1/Month", "Units/Month", 1),
        ("10000 Units", "Units", 10000),
        ("10K", "Units", 10000),
        ("10 Hours", "Hours", 10),
        ("1 GB/Month", "GB/Month", 1),
        ("100 Core Hrs", "Core-Hours", 100),
        ("Hrs", "Hours", 1),
        ("GB-Mo", "GB-Months", 1),
        ("Lambda-GB-Second", "GB-Seconds", 1),
        ("gibibyte month", "GiB-Months", 1),
        ("mebibyte second", "MiB-Seconds", 1),
        ("1/3 Months", "Units/3 Months", 1),
    ],
)
def test_a_provider_unit_reads_as_the_focus_unit_and_its_block(raw: str, unit: str, block: int) -> None:
    reading = map_unit(raw)
    assert reading is not None
    assert (reading.unit, reading.block) == (unit, Decimal(block))


def test_a_block_that_does_not_divide_exactly_stays_a_whole_number_prefix() -> None:
    reading = map_unit("744 Connections")
    assert reading is not None
    assert (reading.fold, reading.pricing_unit) == (Decimal(1), "744 Connections")


@pytest.mark.parametrize(
    ("raw", "quantity", "price"),
    [
        ("10 Hours", "0.4333420000", "0.081579474"),
        ("10K", "0.7974", "0.004499678"),
        ("100000000 Operations", "3.1", "0.1234567890"),
        ("1024 GB", "0.5", "7.77"),
        ("744 Connections", "2", "0.31"),
    ],
)
def test_folding_the_block_keeps_the_cost_exactly(raw: str, quantity: str, price: str) -> None:
    units = UnitMap({raw: (lambda r: (r.unit, r.block))(map_unit(raw))})  # type: ignore[union-attr]
    ((pricing_quantity, unit_price, unit, cost),) = duckdb.execute(
        f"SELECT CAST(q * {units.fold_sql('u')} AS DECIMAL(38,10)), "
        f"CAST(p * {units.unfold_sql('u')} AS DECIMAL(38,18)), {units.pricing_unit_sql('u')}, "
        f"CAST(p * q AS DECIMAL(38,18)) "
        f"FROM (SELECT '{raw}' AS u, {quantity}::DECIMAL(38,10) AS q, {price}::DECIMAL(38,18) AS p)"
    ).fetchall()
    assert in_unit_format(unit)
    with localcontext(prec=80):  # exact products: the default 28 digits would round them
        assert unit_price * pricing_quantity == cost == Decimal(price) * Decimal(quantity)


def test_an_unknown_unit_is_kept_as_written_with_a_warning_naming_it(tmp_path: Path) -> None:
    source = (FIXTURES / "azure/mca_actual_2026-01.csv").read_text(encoding="utf-8")
    written = tmp_path / "mca_odd_unit.csv"
    assert ",1 Hour," in source
    written.write_text(source.replace(",1 Hour,", ',"10000 1,000s",', 1), encoding="utf-8")
    with duckdb.connect() as con:
        opened = open_source(con, written)
    notices = [n for n in opened.notices if n.code == "unit-unmapped"]
    assert len(notices) == 1
    assert "'10000 1,000s'" in notices[0].message
    assert notices[0].rows == 1
    assert opened.units.units["10000 1,000s"] == ("10000 1,000s", Decimal(1))


def test_the_azure_ea_export_converts_with_every_pricing_unit_in_unit_format(tmp_path: Path) -> None:
    out = tmp_path / "ea.parquet"
    convert([FIXTURES / "azure/azure_ea_costdetails_anonymized_focusconverters.csv"], out)
    rows = duckdb.execute(
        f"SELECT DISTINCT PricingUnit, ConsumedUnit FROM read_parquet('{out}') WHERE PricingUnit IS NOT NULL"
    ).fetchall()
    assert {p for p, _ in rows} == {"GB", "Hours", "Units"}  # 1 GB, 1 Hour, 10K and 1K
    assert all(in_unit_format(p) and (c is None or in_unit_format(c)) for p, c in rows)
    (ten_k,) = duckdb.execute(
        f"SELECT PricingQuantity FROM read_parquet('{out}') WHERE abs(BilledCost - 0.003588043) < 1e-12"
    ).fetchall()
    assert ten_k == (Decimal("7974"),)  # 0.7974 blocks of 10K


@pytest.mark.parametrize(
    ("raw", "unit", "block", "mapped"),
    [("0 Hours", "0 Hours", 1, False), ("0 GB/Month", "0 GB/Month", 1, False),
     ("1000000000000 Hours", "Hours", 10**12, True), ("1000000000001 Hours", "1000000000001 Hours", 1, False),
     ("1000000b Hours", "1000000b Hours", 1, False), ("1" * 41 + " Hours", "1" * 41 + " Hours", 1, False)],
)  # fmt: skip
def test_a_block_of_zero_or_beyond_the_largest_is_not_read_as_a_block(
    raw: str, unit: str, block: int, mapped: bool
) -> None:
    reading = map_unit(raw)
    assert reading is not None
    assert (reading.unit, reading.block, reading.mapped) == (unit, Decimal(block), mapped)


@pytest.mark.parametrize("raw", ["0 GB/Month", "100000000000000000000000 Hours", "1" * 41 + " Hours"])
def test_an_azure_unit_with_a_zero_or_huge_block_is_kept_as_written_and_named(tmp_path: Path, raw: str) -> None:
    source = FIXTURES / "azure/mca_actual_2026-01.csv"
    with source.open(newline="", encoding="utf-8-sig") as handle:
        rows = list(csv.DictReader(handle))
    changed = next(row for row in rows if row["unitOfMeasure"] == "1 Hour")
    changed["unitOfMeasure"] = raw
    written = tmp_path / "mca_block.csv"
    with written.open("w", newline="", encoding="utf-8") as handle:
        writer = csv.DictWriter(handle, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)
    out = tmp_path / "out.parquet"
    converted = convert([written], out)
    notices = [n for n in converted.notices if n.code == "unit-unmapped"]
    assert [(repr(raw) in n.message, n.rows) for n in notices] == [(True, 1)]
    found = duckdb.execute(
        f"SELECT PricingQuantity, ConsumedQuantity FROM read_parquet('{out}') WHERE PricingUnit = $1", [raw]
    ).fetchall()
    assert found == [(Decimal(changed["quantity"]), Decimal(changed["quantity"]))]
