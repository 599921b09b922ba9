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

from analytics.anomalies import DIMENSIONS, Contribution, contributing_resources, detect, explain

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
    series, value and currency in place of unique_id), each explained from cost_detail_daily
    with every resource that contributed (and its name, where the bills or the inventory give
    one), and marked ``covered_by`` a broader series' anomaly whose explanation already names
    it (so one incident raises one alert, not three).

    An anomaly that no dimension value explains is not reported: its cost, value by value, is
    in line with the weeks before it."""
    intervals = intervals.with_columns(
        pl.concat_str("series", pl.col("value").fill_null(""), "currency", separator="\x1f").alias("unique_id")
    )
    found = detect(intervals.select("unique_id", "ds", "y", "mean", "lo_99", "hi_99"), min_abs=min_abs, min_rel=min_rel)
    rows: list[dict[str, Any]] = []
    for anomaly in found.iter_rows(named=True):
        series, value, currency = anomaly["unique_id"].split("\x1f")
        detail = _detail(con, series, value or None, currency, anomaly["start"], anomaly["end"])
        earlier = _earlier_days(found, anomaly)
        contributions = explain(anomaly, detail, exclude=earlier) if detail.height else []
        path = [c for c in contributions if c.in_path]
        if not path:
            continue  # nothing stands out value by value: see the note above
        others = [c for c in contributions if not c.in_path]
        resources = contributing_resources(anomaly, detail, exclude=earlier)
        names = resource_names(con, [c.value for c in [*contributions, *resources] if c.dimension == "ResourceId"],
                               anomaly["start"], anomaly["end"])  # fmt: skip
        rows.append({
            **{k: v for k, v in anomaly.items() if k != "unique_id"},
            "series": series, "value": value or None, "currency": currency,
            "explanation": json.dumps({
                "path": [_step(c, names) for c in path], "others": [_step(c, names) for c in others],
                "resources": [{"resource_id": c.value, "name": names.get(str(c.value)), "actual": round(c.actual, 2),
                               "expected": round(c.expected, 2), "excess": round(c.excess, 2),
                               "share": round(c.share, 4)} for c in resources],
            }),
        })  # fmt: skip
    return _mark_covered(rows)


def _earlier_days(found: pl.DataFrame, anomaly: dict[str, Any]) -> list[date]:
    """The days of the series' episodes before ``anomaly``: not part of what it is measured against."""
    days: list[date] = []
    earlier = found.filter((pl.col("unique_id") == anomaly["unique_id"]) & (pl.col("end") < anomaly["start"]))
    for start, end in earlier.select("start", "end").iter_rows():
        days += [start + timedelta(days=i) for i in range((end - start).days + 1)]
    return days


def _step(c: Contribution, names: dict[str, str]) -> dict[str, Any]:
    step = {"dimension": c.dimension, "value": c.value, "excess": round(c.excess, 2), "share": round(c.share, 4)}
    return step | ({"name": names.get(str(c.value))} if c.dimension == "ResourceId" else {})


def resource_names(con: duckdb.DuckDBPyConnection, ids: list[str | None], start: date, end: date) -> dict[str, str]:
    """Resource id -> name, from the inventory (its latest name) or else the bills of the
    anomaly's days (FOCUS ResourceName: Azure's and Google's exports carry it, an AWS bill when
    the ``Name`` tag is a cost allocation tag). Resources neither names are left out."""
    wanted = sorted({i for i in ids if i})
    if not wanted:
        return {}
    names: dict[str, str] = {}
    if _has_table(con, "focus_costs"):
        names |= dict(con.execute(
            "SELECT ResourceId, arg_max(ResourceName, ChargePeriodStart) FROM focus_costs WHERE ResourceId IN "
            "(SELECT unnest($1)) AND ResourceName IS NOT NULL AND ChargePeriodStart >= $2 "
            "AND ChargePeriodStart < $3 GROUP BY 1", [wanted, start, end + timedelta(days=1)],
        ).fetchall())  # fmt: skip
    if _has_table(con, "inventory"):
        names |= dict(con.execute(
            "SELECT resource_id, arg_max(name, snapshot_date) FROM inventory WHERE resource_id IN (SELECT unnest($1)) "
            "AND name IS NOT NULL AND name <> '' GROUP BY 1", [wanted],
        ).fetchall())  # fmt: skip
    return names


def _has_table(con: duckdb.DuckDBPyConnection, table: str) -> bool:
    found = con.execute("SELECT count(*) FROM information_schema.tables WHERE table_name = $1", [table]).fetchall()
    return bool(found[0][0])


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
