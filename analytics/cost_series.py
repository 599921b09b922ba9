"""The daily cost series WedCloud forecasts, read from the warehouse, and what is written back.

A series is the total, one provider or one service, in one billing currency (currencies are
never added). Each gets an opaque ``unique_id`` for statsforecast; ``SERIES_KEYS`` maps it back
to (series, value, currency) when results are written.
"""

from __future__ import annotations

import json
from datetime import date, timedelta
from typing import Any

import duckdb
import polars as pl

from analytics.anomalies import DIMENSIONS, detect, explain

LEVELS = ("total", "provider", "service")
_COLUMN = {"provider": "ProviderName", "service": "ServiceName"}


def load_series(con: duckdb.DuckDBPyConnection, *, metric: str = "BilledCost") -> tuple[pl.DataFrame, pl.DataFrame]:
    """(history: unique_id, ds, y) and (keys: unique_id, series, value, currency) from cost_daily."""
    parts = []
    for level in LEVELS:
        value = _COLUMN.get(level, "NULL")
        parts.append(
            f"SELECT '{level}' AS series, CAST({value} AS VARCHAR) AS value, BillingCurrency AS currency, "
            f"ChargeDate AS ds, CAST(sum({metric}) AS DOUBLE) AS y FROM cost_daily GROUP BY ALL"
        )
    frame = pl.from_arrow(con.sql(" UNION ALL ".join(parts)).to_arrow_table())
    assert isinstance(frame, pl.DataFrame)
    keys = (
        frame.select("series", "value", "currency")
        .unique()
        .sort("series", "value", "currency", nulls_last=False)
        .with_row_index("n")
        .select(pl.format("s{}", "n").alias("unique_id"), "series", "value", "currency")
    )
    history = frame.join(keys, on=["series", "value", "currency"], nulls_equal=True).select("unique_id", "ds", "y")
    return history, keys


def series_parents(con: duckdb.DuckDBPyConnection, keys: pl.DataFrame) -> dict[str, str]:
    """The series each series is part of, by ``unique_id``: a provider's is its currency's
    total; a service's is the provider it is billed under, or the total when the same service
    name is billed under several providers in that currency. The totals have none."""
    ids = {(row["series"], row["value"], row["currency"]): row["unique_id"] for row in keys.iter_rows(named=True)}
    owners = con.sql(
        "SELECT ServiceName, BillingCurrency, min(ProviderName), count(DISTINCT ProviderName) FROM cost_daily "
        "GROUP BY ALL"
    ).fetchall()
    provider_of = {(service, currency): provider if n == 1 else None for service, currency, provider, n in owners}
    parents: dict[str, str] = {}
    for (series, value, currency), uid in ids.items():
        total = ids.get(("total", None, currency))
        provider = ids.get(("provider", provider_of.get((value, currency)), currency))
        parent = total if series == "provider" else (provider or total) if series == "service" else None
        if parent is not None:
            parents[uid] = parent
    return parents


def with_keys(frame: pl.DataFrame, keys: pl.DataFrame) -> pl.DataFrame:
    """``frame`` with (series, value, currency) in place of ``unique_id``."""
    joined = frame.join(keys, on="unique_id", how="left")
    return joined.select("series", "value", "currency", *[c for c in frame.columns if c != "unique_id"])


def replace_table(con: duckdb.DuckDBPyConnection, table: str, frame: pl.DataFrame) -> int:
    """Replace every row of ``table`` with ``frame`` (columns by name) in one transaction."""
    arrow = frame.to_arrow()
    con.execute("BEGIN TRANSACTION")
    try:
        con.execute(f"DELETE FROM {table}")
        con.register("replacement", arrow)
        con.execute(f"INSERT INTO {table} BY NAME SELECT * FROM replacement")
        con.unregister("replacement")
        con.execute("COMMIT")
    except BaseException:
        con.execute("ROLLBACK")
        raise
    return frame.height


def find_anomalies(
    con: duckdb.DuckDBPyConnection, intervals: pl.DataFrame, *, min_abs: float, min_rel: float
) -> pl.DataFrame:
    """Anomalies of every series (``intervals``: analytics.forecast.one_step_intervals with
    series, value and currency in place of unique_id), each
    explained from cost_detail_daily, and marked ``covered_by`` a broader series' anomaly whose
    explanation already names it (so one incident raises one alert, not three).

    A day outside the interval that no dimension value explains (its cost is in line with the
    four weeks before it) is not reported: that is the one-step forecast's own echo, such as
    the days after a spike, when the model has adapted to the spike and expects more."""
    intervals = intervals.with_columns(
        pl.concat_str("series", pl.col("value").fill_null(""), "currency", separator="\x1f").alias("unique_id")
    )
    found = detect(intervals.select("unique_id", "ds", "y", "mean", "lo_99", "hi_99"), min_abs=min_abs, min_rel=min_rel)
    rows: list[dict[str, Any]] = []
    for anomaly in found.iter_rows(named=True):
        series, value, currency = anomaly["unique_id"].split("\x1f")
        detail = _detail(con, series, value or None, currency, anomaly["start"], anomaly["end"])
        contributions = explain(anomaly, detail) if detail.height else []
        path = [c for c in contributions if c.in_path]
        others = [c for c in contributions if not c.in_path]
        if not path:
            continue  # an artefact of the one-step forecast: see the note above
        rows.append({
            **{k: v for k, v in anomaly.items() if k != "unique_id"},
            "series": series, "value": value or None, "currency": currency,
            "explanation": json.dumps({
                "path": [_contribution(c) for c in path], "others": [_contribution(c) for c in others],
            }),
        })  # fmt: skip
    return _mark_covered(rows)


def _contribution(c: Any) -> dict[str, Any]:
    return {"dimension": c.dimension, "value": c.value, "excess": round(c.excess, 2), "share": round(c.share, 4)}


def _detail(
    con: duckdb.DuckDBPyConnection, series: str, value: str | None, currency: str, start: date, end: date
) -> pl.DataFrame:
    scope = f"AND {_COLUMN[series]} = $4" if series != "total" else ""
    params: list[Any] = [currency, start - timedelta(days=28), end, *([value] if series != "total" else [])]
    table = con.sql(
        f"SELECT ChargeDate, {', '.join(DIMENSIONS)}, CAST(sum(BilledCost) AS DOUBLE) AS cost FROM cost_detail_daily "
        f"WHERE BillingCurrency = $1 AND ChargeDate BETWEEN $2 AND $3 {scope} GROUP BY ALL",
        params=params,
    ).to_arrow_table()
    frame = pl.from_arrow(table)
    assert isinstance(frame, pl.DataFrame)
    return frame


def _mark_covered(rows: list[dict[str, Any]]) -> pl.DataFrame:
    """Broader series first; an anomaly overlapping a kept one of the same currency whose
    explanation path names this series' value is covered by it."""
    rows.sort(key=lambda r: (LEVELS.index(r["series"]), r["start"]))
    kept: list[dict[str, Any]] = []
    for row in rows:
        row["covered_by"] = None
        for broader in kept:
            path = {step["value"] for step in json.loads(broader["explanation"])["path"]}
            overlaps = broader["start"] <= row["end"] and row["start"] <= broader["end"]
            if broader["currency"] == row["currency"] and overlaps and row["value"] in path:
                row["covered_by"] = broader["anomaly_id"]
                break
        if row["covered_by"] is None:
            kept.append(row)
    return pl.DataFrame(rows) if rows else pl.DataFrame()
