"""The sandbox cloud's disaster-recovery side: snapshots, cross-region copies, restores and DNS.

Snapshots are rows of ``sandbox_snapshots``; a snapshot is whole the moment it is taken (the
sandbox has no data to move). A restore makes a new resource at once and reports, in
``details["ready_after_seconds"]``, how long a real cloud would take to make it ready: a fixed
start-up time by kind plus a time per GB of data, so a drill of bigger data measures a longer
RTO, and the same drill always measures the same.

Every call is safe to repeat: a snapshot, copy or restore is named, and the same name (of the
same source) finds what the first call made.

The sandbox has no networks to route: an isolated network (a drill's) is modelled by its id,
which what is placed in it carries as its ``network`` tag; there is nothing of it to delete.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from decimal import Decimal
from typing import TYPE_CHECKING, Any

from sqlalchemy import delete, insert, select
from sqlalchemy.dialects import postgresql, sqlite

from clouds.base import (
    CloudResource,
    DnsRecordSet,
    DnsRouting,
    ProvisionRequest,
    ResourceState,
    ResourceType,
    Snapshot,
)
from clouds.errors import InvalidStateTransition, ResourceNotFound, UnsupportedRequest
from clouds.sandbox import state
from clouds.sandbox.blueprint import Kind
from clouds.sandbox.demand import stable_hash

if TYPE_CHECKING:
    from collections.abc import Callable
    from datetime import datetime

    from sqlalchemy import Engine

    from clouds.sandbox.catalog import Flavour
    from clouds.sandbox.world import SandboxResource, World

NETWORK_TAG = "network"  # what a sandbox resource placed in an isolated network carries: its id

# (start-up seconds, seconds per GB of data) of a restore, by what it makes
RESTORE_TIMING: dict[Kind, tuple[int, Decimal]] = {
    Kind.VOLUME: (30, Decimal("1.0")),
    Kind.BUCKET: (10, Decimal("0.5")),
    Kind.INSTANCE: (90, Decimal("1.0")),
    Kind.GROUP: (120, Decimal("1.0")),
    Kind.DATABASE: (240, Decimal("2.0")),
}


def ready_after_seconds(kind: Kind, size_gb: int) -> int:
    """How long a restore of ``size_gb`` of ``kind`` takes on the sandbox, in whole seconds."""
    start, per_gb = RESTORE_TIMING[kind]
    return int(start + per_gb * size_gb)


def _snapshot(row: Any) -> Snapshot:
    return Snapshot(
        id=row.id,
        resource_id=row.resource_id,
        created_at=row.created_at,
        size_gb=row.size_gb,
        region=row.region,
        completed_at=row.completed_at,
        state="completed",
        name=row.name,
        tags=dict(row.tags),
        source_snapshot_id=row.copied_from,
        kind=row.kind,
    )


class SandboxRecovery:
    """Mixed into :class:`clouds.sandbox.provider.SandboxCloud`, whose parts it uses."""

    if TYPE_CHECKING:
        engine: Engine
        flavour: Flavour
        world_name: str
        clock: Callable[[], datetime]

        def _resource(self, world: World | None, resource_id: str) -> SandboxResource: ...
        def _record(self, resource_id: str, event: str, detail: dict[str, Any], **changes: Any) -> None: ...
        def _world(self) -> World: ...
        def provision(self, request: ProvisionRequest) -> CloudResource: ...
        def _usage_accounts(self) -> list[str]: ...

    def _snapshot_row(self, snapshot_id: str) -> Any:
        with self.engine.connect() as connection:
            row = connection.execute(
                select(state.snapshots).where(
                    state.snapshots.c.id == snapshot_id,
                    state.snapshots.c.world == self.world_name,
                    state.snapshots.c.flavour == self.flavour.key.value,
                )
            ).one_or_none()
        if row is None:
            raise ResourceNotFound(snapshot_id)
        return row

    def _check_region(self, region: str) -> None:
        if region not in {p.region.id for p in self.flavour.regions}:
            known = ", ".join(sorted(p.region.id for p in self.flavour.regions))
            raise UnsupportedRequest(f"unknown region {region!r}; this cloud has {known}")

    def _insert_snapshot(self, snapshot_id: str, values: dict[str, Any]) -> Snapshot:
        try:
            return _snapshot(self._snapshot_row(snapshot_id))  # an earlier call made it
        except ResourceNotFound:
            pass
        now = self.clock()
        row = {"id": snapshot_id, "world": self.world_name, "flavour": self.flavour.key.value, "created_at": now,
               "completed_at": now, **values}  # fmt: skip
        with self.engine.begin() as connection:
            connection.execute(insert(state.snapshots).values(**row))
        return _snapshot(self._snapshot_row(snapshot_id))

    def snapshot(self, resource_id: str, *, name: str, tags: Mapping[str, str] | None = None) -> Snapshot:
        resource = self._resource(None, resource_id)
        if resource.state == "terminated":
            raise InvalidStateTransition(resource_id, resource.state, "snapshot")
        snapshot_id = f"snap-{format(stable_hash(f'{resource_id}:{name}'), 'x')[:12]}"
        size_gb = int(resource.spec.get("storage_gb", 0))
        source = {"size": resource.size, "spec": resource.spec, "account_id": resource.account_id}
        made = self._insert_snapshot(
            snapshot_id,
            {"resource_id": resource_id, "kind": resource.kind.value, "name": name, "region": resource.region,
             "size_gb": size_gb, "tags": dict(tags or {}), "source": source, "copied_from": None},
        )  # fmt: skip
        self._record(resource_id, "snapshotted", {"snapshot_id": made.id, "name": name, "size_gb": size_gb})
        return made

    def copy_snapshot(
        self, snapshot_id: str, *, region: str, name: str, tags: Mapping[str, str] | None = None
    ) -> Snapshot:
        self._check_region(region)
        row = self._snapshot_row(snapshot_id)
        copy_id = f"snap-{format(stable_hash(f'copy:{snapshot_id}:{region}:{name}'), 'x')[:12]}"
        return self._insert_snapshot(
            copy_id,
            {"resource_id": row.resource_id, "kind": row.kind, "name": name, "region": region,
             "size_gb": row.size_gb, "tags": dict(tags or {}), "source": row.source, "copied_from": snapshot_id},
        )  # fmt: skip

    def describe_snapshot(self, snapshot_id: str) -> Snapshot:
        return _snapshot(self._snapshot_row(snapshot_id))

    def list_snapshots(self, *, region: str | None = None, tags: Mapping[str, str] | None = None) -> Iterator[Snapshot]:
        query = select(state.snapshots).where(
            state.snapshots.c.world == self.world_name, state.snapshots.c.flavour == self.flavour.key.value
        )
        if region is not None:
            query = query.where(state.snapshots.c.region == region)
        with self.engine.connect() as connection:
            rows = list(connection.execute(query.order_by(state.snapshots.c.created_at, state.snapshots.c.id)))
        wanted = dict(tags or {})
        for row in rows:
            if all(row.tags.get(k) == v for k, v in wanted.items()):
                yield _snapshot(row)

    def delete_snapshot(self, snapshot_id: str) -> None:
        with self.engine.begin() as connection:
            connection.execute(
                delete(state.snapshots).where(
                    state.snapshots.c.id == snapshot_id,
                    state.snapshots.c.world == self.world_name,
                    state.snapshots.c.flavour == self.flavour.key.value,
                )
            )

    def restore(
        self,
        snapshot_id: str,
        *,
        region: str,
        name: str,
        tags: Mapping[str, str] | None = None,
        size: str | None = None,
        network: str | None = None,
    ) -> CloudResource:
        from clouds.sandbox.provider import _TYPE_OF_KIND

        self._check_region(region)
        row = self._snapshot_row(snapshot_id)
        kind = Kind(row.kind)
        resource_type, subtype = _TYPE_OF_KIND[kind]
        source = dict(row.source)
        spec = dict(source.get("spec") or {})
        options: dict[str, Any] = {
            "subtype": subtype,
            "storage_gb": row.size_gb,
            "workload": spec.get("workload"),
            "client_token": f"restore:{snapshot_id}:{region}:{name}",
        }
        if kind == Kind.GROUP:
            options |= {k: spec[k] for k in ("min", "max", "demand_vcpus") if k in spec}
        made = self.provision(
            ProvisionRequest(
                name=name,
                resource_type=resource_type,
                region=region,
                size=size or source.get("size") or f"{row.size_gb}GB",
                account_id=source.get("account_id"),
                tags={**dict(tags or {}), "restored-from": snapshot_id},
                network=network,
                options=options,
            )
        )
        details = {**made.details, "ready_after_seconds": ready_after_seconds(kind, row.size_gb)}
        return CloudResource(**{**made.__dict__, "details": details})

    def isolated_network(self, *, region: str, name: str, tags: Mapping[str, str]) -> CloudResource:
        """A modelled isolated network: its id (the same for the same name), nothing stored."""
        self._check_region(region)
        network_id = f"sbx-{self.flavour.key}-net-{format(stable_hash(f'network:{region}:{name}'), 'x')[:12]}"
        return CloudResource(
            id=network_id, name=name, resource_type=ResourceType.NETWORK, subtype="isolated_network", region=region,
            state=ResourceState.AVAILABLE, account_id=self._usage_accounts()[0], tags=dict(tags),
            details={"isolated": True, "modelled": True},
        )  # fmt: skip

    def isolated_networks(self, *, region: str, tags: Mapping[str, str]) -> list[CloudResource]:
        return []  # none is stored: nothing to sweep

    def delete_network(self, network_id: str, *, region: str) -> bool:
        return True

    def route_dns(self, records: DnsRecordSet, *, active: str, health_check_url: str | None = None) -> DnsRouting:
        if active not in records.targets:
            raise UnsupportedRequest(f"{active!r} is not one of the record's targets ({', '.join(records.targets)})")
        world = self._world()
        weights = {target: 100 if target == active else 0 for target in records.targets}
        values = {
            "world": world.name,
            "record": records.name,
            "weights": weights,
            "dns_values": [records.targets[active]],
            "updated_at": self.clock(),
        }
        dialect = sqlite if self.engine.dialect.name == "sqlite" else postgresql
        statement = dialect.insert(state.dns_records).values(**values)
        with self.engine.begin() as connection:
            connection.execute(
                statement.on_conflict_do_update(
                    index_elements=["world", "record"],
                    set_={k: values[k] for k in ("weights", "dns_values", "updated_at")},
                )
            )
        return DnsRouting(record=records.name, weights=weights, active=active, values=(records.targets[active],))

    def dns_routing(self, records: DnsRecordSet) -> DnsRouting | None:
        with self.engine.connect() as connection:
            row = connection.execute(
                select(state.dns_records).where(
                    state.dns_records.c.world == self.world_name, state.dns_records.c.record == records.name
                )
            ).one_or_none()
        if row is None:
            return None
        weights = dict(row.weights)
        active = next((k for k, w in weights.items() if w == 100), None)
        return DnsRouting(record=row.record, weights=weights, active=active, values=tuple(row.dns_values or ()))
