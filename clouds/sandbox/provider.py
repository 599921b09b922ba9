"""The sandbox cloud behind the CloudProvider protocol.

State lives in the state store (``clouds.sandbox.state``); every write is a lifecycle event,
so the meter bills what happened: a resize shows in the next day's rate, a stopped instance
stops billing compute hours but keeps paying for its disk.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping, Sequence
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import polars as pl
from sqlalchemy import Engine, insert, select, update

from clouds.base import (
    HOUR,
    METRICS_SCHEMA,
    BillingExport,
    CloudResource,
    ConnectionCheck,
    InstanceType,
    Problem,
    ProvisionRequest,
    Region,
    ResourceState,
    ResourceType,
    ScaleRequest,
    Service,
)
from clouds.errors import AuthenticationFailed, InvalidStateTransition, ResourceNotFound, UnsupportedRequest
from clouds.sandbox import live, state
from clouds.sandbox.blueprint import Kind, Workload
from clouds.sandbox.catalog import FLAVOURS, FlavourKey
from clouds.sandbox.demand import hour_range, stable_hash
from clouds.sandbox.exports import list_exports
from clouds.sandbox.recovery import NETWORK_TAG, SandboxRecovery
from clouds.sandbox.usage import Meter
from clouds.sandbox.world import DEFAULT_WORLD, SandboxEvent, SandboxResource, World, load_world, state_since

_TYPE_OF_KIND = {
    Kind.INSTANCE: (ResourceType.COMPUTE, "instance"),
    Kind.GROUP: (ResourceType.COMPUTE, "instance_group"),
    Kind.DATABASE: (ResourceType.DATABASE, "database"),
    Kind.VOLUME: (ResourceType.STORAGE, "volume"),
    Kind.BUCKET: (ResourceType.STORAGE, "bucket"),
}
_KIND_OF_REQUEST = {
    (ResourceType.COMPUTE, "instance"): Kind.INSTANCE,
    (ResourceType.COMPUTE, "instance_group"): Kind.GROUP,
    (ResourceType.DATABASE, "database"): Kind.DATABASE,
    (ResourceType.STORAGE, "volume"): Kind.VOLUME,
    (ResourceType.STORAGE, "bucket"): Kind.BUCKET,
}
POWERED = (Kind.INSTANCE, Kind.GROUP, Kind.DATABASE)


def _utcnow() -> datetime:
    return datetime.now(UTC)


class SandboxCloud(SandboxRecovery):
    """One flavour of the sandbox world, seen as a provider account."""

    kind = "sandbox"

    @classmethod
    def provision_problems(cls, request: ProvisionRequest) -> list[Problem]:
        return []  # the flavour's regions and catalogue are checked when the resource is made

    def __init__(
        self,
        engine: Engine,
        *,
        flavour: FlavourKey | str,
        exports_dir: Path,
        world: str = DEFAULT_WORLD,
        clock: Callable[[], datetime] | None = None,
    ) -> None:
        self.engine = engine
        self.flavour = FLAVOURS[FlavourKey(flavour)]
        self.exports_dir = exports_dir
        self.world_name = world
        self.clock = clock or (lambda: _utcnow())  # late-bound: tests pin the module's clock

    # -- helpers -------------------------------------------------------------------------
    def _world(self) -> World:
        world = load_world(self.engine, self.world_name)
        if world is None:
            raise self._no_world()
        return world

    def _no_world(self) -> AuthenticationFailed:
        return AuthenticationFailed(
            f"the sandbox world {self.world_name!r} does not exist; run `wedcloud sandbox create`"
        )

    def _resource(self, world: World | None, resource_id: str) -> SandboxResource:
        """One resource of this flavour, read by its id (not by loading the whole world)."""
        with self.engine.connect() as connection:
            row = connection.execute(
                select(state.resources).where(
                    state.resources.c.id == resource_id,
                    state.resources.c.world == self.world_name,
                    state.resources.c.flavour == self.flavour.key.value,
                )
            ).one_or_none()
        if row is None:
            if world is None:
                self._ensure_world()  # a missing world says so, rather than "no such resource"
            raise ResourceNotFound(resource_id)
        return SandboxResource(
            id=row.id, flavour=FlavourKey(row.flavour), account_id=row.account_id, blueprint=row.blueprint,
            name=row.name, kind=Kind(row.kind), region=row.region, zone=row.zone, size=row.size, state=row.state,
            tags=dict(row.tags), spec=dict(row.spec), created_at=row.created_at, terminated_at=row.terminated_at,
        )  # fmt: skip

    def _to_cloud(self, resource: SandboxResource, events: Sequence[SandboxEvent] | None = None) -> CloudResource:
        """The resource as the provider reports it; ``events`` (its own, oldest first) give
        ``details["state_since"]``, read from the store when not passed."""
        resource_type, subtype = _TYPE_OF_KIND[resource.kind]
        if events is None:
            events = self._events(resource.id)
        since = state_since(events)
        return CloudResource(
            id=resource.id,
            name=resource.name,
            resource_type=resource_type,
            subtype=subtype,
            region=resource.region,
            zone=resource.zone,
            state=ResourceState(resource.state),
            account_id=resource.account_id,
            size=resource.size or (f"{resource.spec.get('storage_gb', 0)}GB" if resource.kind == Kind.VOLUME else None),
            tags=resource.tags,
            created_at=resource.created_at,
            attached_to=resource.spec.get("attached_to"),
            details={
                **{k: v for k, v in resource.spec.items() if k != "attached_to"},
                **({"state_since": since} if since is not None else {}),
            },
        )

    def _events(self, resource_id: str) -> list[SandboxEvent]:
        with self.engine.connect() as connection:
            rows = connection.execute(
                select(state.events)
                .where(state.events.c.resource_id == resource_id)
                .order_by(state.events.c.at, state.events.c.id)
            )
            return [SandboxEvent(row.resource_id, row.at, row.event, dict(row.detail)) for row in rows]

    def _record(self, resource_id: str, event: str, detail: dict[str, Any], **changes: Any) -> None:
        with self.engine.begin() as connection:
            connection.execute(
                insert(state.events).values(resource_id=resource_id, at=self.clock(), event=event, detail=detail)
            )
            if changes:
                connection.execute(update(state.resources).where(state.resources.c.id == resource_id).values(**changes))

    def _ensure_world(self) -> None:
        """AuthenticationFailed, saying what to run, when the world does not exist."""
        with self.engine.connect() as connection:
            found = connection.execute(
                select(state.worlds.c.name).where(state.worlds.c.name == self.world_name)
            ).one_or_none()
        if found is None:
            raise self._no_world()

    def _usage_accounts(self) -> list[str]:
        """The ids of the accounts resources can be made in (all but the billing account)."""
        with self.engine.connect() as connection:
            found = connection.execute(
                select(state.accounts.c.id)
                .where(
                    state.accounts.c.world == self.world_name,
                    state.accounts.c.flavour == self.flavour.key.value,
                    state.accounts.c.role != "billing",
                )
                .order_by(state.accounts.c.id)
            ).scalars()
            accounts = list(found)
        if not accounts:
            self._ensure_world()
            raise UnsupportedRequest(f"the sandbox world {self.world_name!r} has no {self.flavour.key} accounts")
        return accounts

    def _reload(self, resource_id: str) -> CloudResource:
        return self._to_cloud(self._resource(None, resource_id))

    def describe(self, resource_id: str) -> CloudResource:
        return self._reload(resource_id)

    def tag(self, resource_id: str, tags: Mapping[str, str]) -> CloudResource:
        """Replace the resource's tags."""
        resource = self._resource(None, resource_id)
        if resource.state == ResourceState.TERMINATED:
            raise InvalidStateTransition(resource_id, resource.state, "tag")
        self._record(resource_id, "tagged", {"tags": dict(tags)}, tags=dict(tags))
        return self._reload(resource_id)

    # -- read side -----------------------------------------------------------------------
    def test_connection(self) -> ConnectionCheck:
        try:
            world = self._world()
        except AuthenticationFailed as exc:
            return ConnectionCheck(ok=False, identity=f"sandbox:{self.flavour.key}", detail=str(exc))
        billing = next(a for a in world.accounts_of(self.flavour.key) if a.role == "billing")
        return ConnectionCheck(
            ok=True,
            identity=f"sandbox:{world.name}:{self.flavour.key}:{billing.id}",
            detail=f"{len(world.resources_of(self.flavour.key))} resources, data through {world.as_of}",
        )

    def list_regions(self) -> list[Region]:
        return [priced.region for priced in self.flavour.regions]

    def list_services(self) -> list[Service]:
        return list(self.flavour.services)

    def list_resources(self, *, region: str | None = None) -> Iterator[CloudResource]:
        world = self._world()
        for resource in world.resources_of(self.flavour.key):
            if resource.kind == Kind.EGRESS or resource.state == ResourceState.TERMINATED:
                continue
            if region is None or resource.region == region:
                yield self._to_cloud(resource, world.events_of(resource.id))

    def get_metrics(
        self, resource_ids: Sequence[str], *, start: datetime, end: datetime, period: timedelta = HOUR
    ) -> pl.DataFrame:
        """Hourly samples, whatever ``period`` asks: the sandbox's world is simulated by the hour."""
        world = self._world()
        meter = Meter(world)
        timestamps = hour_range(start, end).astype("datetime64[us]")
        if not len(timestamps):  # start and end within one hour: no hourly sample falls between
            return pl.DataFrame(schema=METRICS_SCHEMA)
        frames = []
        for resource_id in resource_ids:
            series = meter.metrics(self._resource(world, resource_id), start, end)
            for metric, values in (series or {}).items():
                frames.append(
                    pl.DataFrame(
                        {"resource_id": resource_id, "metric": metric.value, "timestamp": timestamps, "value": values},
                    ).with_columns(pl.col("timestamp").dt.replace_time_zone("UTC"))
                )
        if not frames:
            return pl.DataFrame(schema=METRICS_SCHEMA)
        return pl.concat(frames).drop_nans("value").cast(METRICS_SCHEMA)

    def recent_metrics(self, resource_ids: Sequence[str], *, start: datetime, end: datetime) -> pl.DataFrame:
        """Live 30-second samples (``clouds.sandbox.live``) of this flavour's running resources
        among ``resource_ids``, for the periods in [start, end) already over by the clock."""
        # a period is over once its 30 s have passed: the one starting at clock - 30 s is included
        end = min(end, self.clock() - timedelta(seconds=live.STEP_SECONDS) + timedelta(microseconds=1))
        world = live.load_live(self.engine, self.world_name, self.flavour.key, resource_ids)
        return live.live_samples(world, start, end)

    def list_billing_exports(self, *, since: date | None = None) -> list[BillingExport]:
        return [
            e for e in list_exports(self.exports_dir, self.flavour.key) if since is None or e.billing_period >= since
        ]

    def price_catalogue(self, *, region: str) -> list[InstanceType]:
        try:
            factor = self.flavour.region(region).price_factor
        except KeyError as exc:
            raise UnsupportedRequest(str(exc)) from None
        return [
            InstanceType(
                name=t.name,
                family=t.family,
                vcpus=t.vcpus,
                memory_gib=t.memory_gib,
                hourly_price=t.hourly_price * factor,
                architecture=t.architecture,
                gpus=t.gpus,
                service=t.service,
            )
            for t in (*self.flavour.instance_types, *self.flavour.database_types)
        ]

    # -- write side ----------------------------------------------------------------------
    def provision(self, request: ProvisionRequest) -> CloudResource:
        token = request.options.get("client_token")
        if token is not None:
            # the same token is the same resource: a retried provision returns it, like EC2's ClientToken
            resource_id = f"sbx-{self.flavour.key}-{format(stable_hash(f'token:{token}'), 'x')[:12]}"
            try:
                return self._reload(resource_id)
            except ResourceNotFound:
                pass
        kind = _KIND_OF_REQUEST.get((request.resource_type, str(request.options.get("subtype", "instance"))))
        if kind is None and request.resource_type == ResourceType.STORAGE:
            kind = Kind.VOLUME if request.options.get("subtype") != "bucket" else Kind.BUCKET
        if kind is None and request.resource_type == ResourceType.DATABASE:
            kind = Kind.DATABASE
        if kind is None:
            raise UnsupportedRequest(f"the sandbox cannot provision {request.resource_type} resources")
        try:
            self.flavour.region(request.region)
        except KeyError as exc:
            raise UnsupportedRequest(str(exc)) from None
        storage_gb = int(request.options.get("storage_gb", 0))
        size: str | None = request.size
        if kind in POWERED:
            try:
                self.flavour.instance_type(request.size)
            except KeyError as exc:
                raise UnsupportedRequest(str(exc)) from None
        else:
            if not request.size.removesuffix("GB").isdigit():
                raise UnsupportedRequest(f"storage size must be a number of GB such as '100GB', not {request.size!r}")
            storage_gb, size = int(request.size.removesuffix("GB")), None
        accounts = self._usage_accounts()
        account_id = request.account_id if request.account_id in accounts else accounts[0]
        now = self.clock()
        if token is None:
            resource_id = f"sbx-{self.flavour.key}-{format(stable_hash(f'{request.name}:{now.isoformat()}'), 'x')[:12]}"
        initial = "running" if kind in POWERED else "available"
        spec = {
            "workload": request.options.get("workload", Workload.API.value if kind in POWERED else "storage"),
            "storage_gb": storage_gb,
            "growth_gb_per_day": 0.0,
        }
        if kind == Kind.GROUP:
            bounds = int(request.options.get("min", 1)), int(request.options.get("max", 4))
            spec |= {"min": bounds[0], "max": bounds[1], "demand_vcpus": float(request.options.get("demand_vcpus", 2))}
        zones = self.flavour.region(request.region).zones
        with self.engine.begin() as connection:
            connection.execute(
                insert(state.resources).values(
                    id=resource_id,
                    world=self.world_name,
                    flavour=self.flavour.key.value,
                    account_id=account_id,
                    blueprint=f"provisioned:{request.name}",
                    name=request.name,
                    kind=kind.value,
                    region=request.region,
                    zone=None if kind == Kind.BUCKET else zones[0],
                    size=size,
                    state=initial,
                    tags={**request.tags, **({NETWORK_TAG: request.network} if request.network else {})},
                    spec=spec,
                    created_at=now,
                )
            )
            connection.execute(
                insert(state.events).values(
                    resource_id=resource_id, at=now, event="created", detail={"size": size, "state": initial}
                )
            )
        return self._reload(resource_id)

    def scale(self, resource_id: str, request: ScaleRequest) -> CloudResource:
        resource = self._resource(None, resource_id)
        if resource.state == ResourceState.TERMINATED:
            raise InvalidStateTransition(resource_id, resource.state, "scale")
        if request.size is not None:
            if resource.kind not in POWERED:
                raise UnsupportedRequest(f"{resource.kind} resources have no instance type")
            try:
                self.flavour.instance_type(request.size)
            except KeyError as exc:
                raise UnsupportedRequest(str(exc)) from None
            if resource.kind == Kind.INSTANCE and resource.state == ResourceState.RUNNING:
                # like the real providers: an instance's type changes only while it is stopped
                raise InvalidStateTransition(resource_id, resource.state, "change the type of")
            self._record(resource_id, "resized", {"size": request.size, "from": resource.size}, size=request.size)
        if request.capacity is not None:
            if resource.kind != Kind.GROUP:
                raise UnsupportedRequest("only instance groups scale horizontally")
            low, high = resource.spec["min"], resource.spec["max"]
            if not low <= request.capacity <= high:
                raise UnsupportedRequest(f"capacity {request.capacity} is outside the group's bounds {low}..{high}")
            self._record(resource_id, "scaled", {"desired": request.capacity})
        return self._reload(resource_id)

    def _transition(self, resource_id: str, action: str, allowed_from: tuple[str, ...], to: str) -> CloudResource:
        resource = self._resource(None, resource_id)
        if resource.kind not in POWERED and action != "terminate":
            raise InvalidStateTransition(resource_id, resource.state, action)
        if resource.state == to:
            return self._to_cloud(resource)  # already there: harmless
        if resource.state not in allowed_from:
            raise InvalidStateTransition(resource_id, resource.state, action)
        changes: dict[str, Any] = {"state": to}
        if to == ResourceState.TERMINATED:
            changes["terminated_at"] = self.clock()
        self._record(
            resource_id, {"start": "started", "stop": "stopped", "terminate": "terminated"}[action], {}, **changes
        )
        return self._reload(resource_id)

    def start(self, resource_id: str) -> CloudResource:
        return self._transition(resource_id, "start", ("stopped",), "running")

    def stop(self, resource_id: str) -> CloudResource:
        return self._transition(resource_id, "stop", ("running",), "stopped")

    def terminate(self, resource_id: str) -> CloudResource:
        return self._transition(resource_id, "terminate", ("running", "stopped", "available", "failed"), "terminated")
