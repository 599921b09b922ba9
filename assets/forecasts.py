"""Forecasts of daily cost and the anomalies found against them (statsforecast, in Dagster:
never in a request)."""

import dagster as dg
import polars as pl

from analytics.anomalies import MIN_ABS, MIN_REL
from analytics.cost_series import find_anomalies, load_series, replace_table, series_parents, with_keys
from analytics.forecast import forecast, one_step_intervals
from assets.billing import OWNERS
from assets.pools import WAREHOUSE_POOL
from assets.resources import WarehouseResource

HORIZON = 365
MODEL_COLUMNS = ("series", "value", "currency", "model", "mase", "mape", "seasonal_naive_mape", "mase_insample",
                 "seasonal_naive_mase_insample", "history_days", "yearly", "reason", "last_actual", "outlier_days",
                 "coverage_80", "coverage_95", "cv_coverage_80", "cv_coverage_95")  # fmt: skip


@dg.asset(
    pool=WAREHOUSE_POOL,
    name="cost_forecast",
    deps=["cost_daily"],
    group_name="forecasts",
    owners=OWNERS,
    kinds={"duckdb", "python"},
    description=(
        "Daily cost forecasts of the total, each provider and each service (per currency) for the next "
        f"{HORIZON} days with 80/95/99% intervals, and the running total from the first forecast day "
        "(month and quarter ends). The model of each series is chosen by rolling-origin backtest among "
        "SeasonalNaive, AutoETS, AutoTheta and MSTL; intervals are calibrated on the same backtest, a "
        "component's kept inside its parent's. MASE, MAPE and interval coverage are in cost_forecast_models "
        "and in this asset's metadata."
    ),
    metadata={"tables": "cost_forecast, cost_forecast_cumulative, cost_forecast_models"},
)
def cost_forecast(context: dg.AssetExecutionContext, warehouse: WarehouseResource) -> dg.MaterializeResult:  # type: ignore[type-arg]
    with warehouse.connect() as con:
        history, keys = load_series(con)
        if history.is_empty():
            context.log.info("no cost history yet: nothing to forecast")
            return dg.MaterializeResult(metadata={"series": 0})
        result = forecast(history, horizon=HORIZON, parents=series_parents(con, keys))
        last = history.group_by("unique_id").agg(pl.col("ds").max().alias("last_actual"))
        models = with_keys(result.selection.join(last, on="unique_id", how="left"), keys).select(MODEL_COLUMNS)
        replace_table(con, "cost_forecast", with_keys(result.future, keys))
        replace_table(con, "cost_forecast_cumulative", with_keys(result.cumulative, keys))
        replace_table(con, "cost_forecast_models", models)
    return dg.MaterializeResult(metadata=_forecast_metadata(models))


def _forecast_metadata(models: pl.DataFrame) -> dict[str, object]:
    total = models.filter(pl.col("series") == "total").sort("currency")
    return {
        "series": models.height,
        "models_chosen": dict(models.group_by("model").len().sort("model").iter_rows()),
        "total": dg.MetadataValue.md(_markdown(total)),
        "per_series": dg.MetadataValue.md(_markdown(models)),
    }


def _markdown(models: pl.DataFrame) -> str:
    lines = ["| series | value | currency | model | MASE vs seasonal naive | MAPE % | seasonal naive MAPE % "
             "| 80% coverage (cross-validated) | 95% coverage (cross-validated) | outlier days |",
             "|---" * 10 + "|"]  # fmt: skip
    for row in models.iter_rows(named=True):
        lines.append(
            f"| {row['series']} | {row['value'] or ''} | {row['currency']} | {row['model']} | "
            f"{_round(row['mase'])} | {_round(row['mape'])} | {_round(row['seasonal_naive_mape'])} | "
            f"{_round(row['coverage_80'])} ({_round(row['cv_coverage_80'])}) | "
            f"{_round(row['coverage_95'])} ({_round(row['cv_coverage_95'])}) | {row['outlier_days'] or 0} |"
        )
    return "\n".join(lines)


def _round(value: float | None) -> str:
    return "" if value is None else f"{value:.3f}"


@dg.asset(
    pool=WAREHOUSE_POOL,
    name="cost_anomalies",
    deps=["cost_daily", "cost_detail_daily"],
    group_name="forecasts",
    owners=OWNERS,
    kinds={"duckdb", "python"},
    description=(
        "Episodes that start on a day whose cost left the 99% interval of a one-step-ahead weekly ETS (fitted "
        f"on the days before each) by at least {MIN_ABS:g} (billing currency) and {MIN_REL:.0%}, and last while "
        "the cost stays beyond the same weekday's average of the four weeks before (up to 28 days); each "
        "impact is the whole episode's excess over that, explained by drilling through provider, service, "
        "accounts, region and resource, with every contributing resource by name. An anomaly a broader "
        "series already explains is marked covered_by it."
    ),
    metadata={"table": "cost_anomalies"},
)
def cost_anomalies(context: dg.AssetExecutionContext, warehouse: WarehouseResource) -> dg.MaterializeResult:  # type: ignore[type-arg]
    with warehouse.connect() as con:
        history, keys = load_series(con)
        intervals = with_keys(one_step_intervals(history), keys) if history.height else pl.DataFrame()
        found = find_anomalies(con, intervals, min_abs=MIN_ABS, min_rel=MIN_REL) if intervals.height else intervals
        written = replace_table(con, "cost_anomalies", found) if found.height else _clear(con)
    uncovered = found.filter(pl.col("covered_by").is_null()).height if found.height else 0
    context.log.info(f"{written} anomalies, {uncovered} not explained by a broader one")
    return dg.MaterializeResult(metadata={"anomalies": written, "alerting": uncovered})


def _clear(con) -> int:  # type: ignore[no-untyped-def]
    con.execute("DELETE FROM cost_anomalies")
    return 0
