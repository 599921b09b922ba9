"""Concurrency pools: which ops may run at the same time, across all runs.

DuckDB lets one process open the warehouse for writing, and ``WarehouseResource.connect``
always opens it read-write (it creates the schema), so every asset and check that uses the
warehouse is in ``WAREHOUSE_POOL``. The instance's ``dagster.yaml`` gives each pool one slot
(``concurrency: pools: default_limit: 1``, written by ``pipelines.instance``), so two runs
started together (a sensor asking for several months, a schedule, a backfill) queue for the
warehouse instead of failing on its lock.
"""

WAREHOUSE_POOL = "duckdb_warehouse"
# webhook and e-mail delivery of alerts: one delivery run at a time, so an alert is never sent twice
ALERTS_POOL = "alert_delivery"
POOL_LIMIT = 1
