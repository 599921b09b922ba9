"""``deployment_drift``: each day, every live deployment compared with its clouds.

It reads and writes the control plane's state store only (each deployment's stored drift, the
``deployments`` stream events), through ``control_plane.deployments.drift``; it never opens the
DuckDB warehouse, so it takes no warehouse pool slot. The status endpoint runs the same check on
demand for one deployment.
"""

# No `from __future__ import annotations`: Dagster reads the asset's context annotation as a class.
import dagster as dg

from assets.resources import ProvidersResource
from control_plane.deployments import drift
from control_plane.store.db import make_engine, make_sessionmaker

OWNERS = ["team:platform"]


@dg.asset(
    name="deployment_drift",
    group_name="deployments",
    owners=OWNERS,
    kinds={"python"},
    description=(
        "Every deployed, paused or failed deployment compared with its clouds: resources missing, sizes or "
        "template tags changed, and extra resources tagged wedcloud:deployment=<id> that it does not record. "
        "Stored on each deployment (its status shows it) for the `drift` alert rule; a change is published on "
        "the stream's `deployments` topic. Provider errors are listed, not taken for drift."
    ),
)
def deployment_drift(context: dg.AssetExecutionContext, providers: ProvidersResource) -> dg.MaterializeResult:
    engine = make_engine(providers.database_url)
    try:
        summary = drift.check_all(make_sessionmaker(engine), providers.adapter_of, now=providers.clock())
    finally:
        engine.dispose()
    for deployment_id in summary["failed"]:
        context.log.warning(f"deployment {deployment_id} could not be checked (see the run's logs)")
    return dg.MaterializeResult(
        metadata={
            "checked": dg.MetadataValue.int(summary["checked"]),
            "drifted": dg.MetadataValue.int(summary["drifted"]),
            "with_errors": dg.MetadataValue.int(summary["with_errors"]),
            "failed": dg.MetadataValue.json(summary["failed"]),
        }
    )
