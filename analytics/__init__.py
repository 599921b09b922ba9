"""Pure computation over cost, usage and metric data: DuckDB SQL or Polars frames in,
values or Polars frames out. Nothing here imports Dagster or FastAPI."""
