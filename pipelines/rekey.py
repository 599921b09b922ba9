"""``rekey_providers``: the one-time step that moves data keyed by providers' names to their ids.

Before partitions were keyed by provider id (``control_plane.services.provider_keys``), the
billing and optimisation partitions, the warehouse's source columns and the recommendations
used the provider's name. Run this job once after upgrading (``dagster job execute -m
pipelines.definitions -j rekey_providers``, or launch it from the UI); it is idempotent. It adds
an id partition for each name partition and removes the name partition (the old runs and
materializations stay in the instance's history under the old key), rewrites the names in the
warehouse's keyed tables, and points recommendations at the ids. Publish a snapshot afterwards
for the API to see the new keys.
"""

# No `from __future__ import annotations`: Dagster reads the op's context annotation as a class.
import dagster as dg

from assets.partitions import billing_source_partitions
from assets.pools import WAREHOUSE_POOL
from assets.resources import ProvidersResource, WarehouseResource
from control_plane.services import provider_keys

JOB_NAME = "rekey_providers"


def rekey_partitions(instance: dg.DagsterInstance, names: dict[str, str]) -> list[str]:
    """Replace each billing-source partition named after a provider by its id: the names moved."""
    partitions = billing_source_partitions.name or "billing_source"
    existing = set(instance.get_dynamic_partitions(partitions))
    moved = sorted(name for name in existing if name in names)
    missing = sorted({names[name] for name in moved} - existing)
    if missing:
        instance.add_dynamic_partitions(partitions, missing)
    for name in moved:
        instance.delete_dynamic_partition(partitions, name)
    return moved


@dg.op(
    name="rekey_provider_data",
    pool=WAREHOUSE_POOL,
    description="Move partitions, warehouse rows and recommendations keyed by provider names to provider ids.",
)
def rekey_provider_data(
    context: dg.OpExecutionContext, warehouse: WarehouseResource, providers: ProvidersResource
) -> None:
    with providers.session() as session:
        names = provider_keys.names_to_keys(session)
        recommendations = provider_keys.rekey_recommendations(session, names)
        with warehouse.connect() as con:
            rows = provider_keys.rekey_warehouse(con, names)
        lake = warehouse.lake
        rows["focus_costs"] = rows.get("focus_costs", 0) + sum(
            lake.rename_source(name, key) for name, key in names.items() if name != key
        )
        session.commit()
    moved = rekey_partitions(context.instance, names)
    context.log.info(f"partitions moved: {moved}; warehouse rows: {rows}; recommendations: {recommendations}")


@dg.job(name=JOB_NAME, description="One-time: re-key data written under provider names by provider ids.")
def rekey_providers() -> None:
    rekey_provider_data()
