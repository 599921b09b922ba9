"""A folder of downloaded exports as a billing source."""

from __future__ import annotations

import os
from datetime import date
from pathlib import Path

import pytest

from clouds.billing import BillingSource, month_of_path
from clouds.sources.folder import FolderSource, UndatedFiles


@pytest.mark.parametrize(
    ("path", "month"),
    [
        ("exports/BILLING_PERIOD=2026-01/part-0.parquet", date(2026, 1, 1)),
        ("azure/costs/20260201-20260228/costs_123.csv", date(2026, 2, 1)),
        ("gcp/2025-12.jsonl", date(2025, 12, 1)),
        ("cur/202511/report.csv.gz", date(2025, 11, 1)),
        ("focus/all-time.csv", None),
    ],
)
def test_the_billing_month_is_read_from_the_path(path: str, month: date | None) -> None:
    assert month_of_path(Path(path)) == month


def test_a_folder_lists_months_and_notices_a_rewritten_file(tmp_path: Path) -> None:
    (tmp_path / "2026-01").mkdir()
    first = tmp_path / "2026-01" / "costs.csv"
    first.write_text("a\n1\n")
    (tmp_path / "costs-2026-02.csv").write_text("a\n2\n")
    (tmp_path / "README.txt").write_text("not a bill")
    source = FolderSource("folder", tmp_path)
    assert isinstance(source, BillingSource)
    months = source.months()
    assert sorted(months) == [date(2026, 1, 1), date(2026, 2, 1)]
    assert [f.path for f in source.fetch(date(2026, 1, 1))] == [first]
    os.utime(first, (1_900_000_000, 1_900_000_000))
    assert source.months()[date(2026, 1, 1)] != months[date(2026, 1, 1)]
    assert source.months()[date(2026, 2, 1)] == months[date(2026, 2, 1)]


def test_files_that_do_not_name_their_month_are_refused(tmp_path: Path) -> None:
    (tmp_path / "bill.csv").write_text("a\n")
    with pytest.raises(UndatedFiles, match=r"bill\.csv"):
        FolderSource("folder", tmp_path).months()
