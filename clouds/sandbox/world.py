"""Turn the blueprints into a concrete world: accounts, resources and lifecycle events.

``build_world`` is a pure function of (seed, history_start, as_of); ``save_world`` and
``load_world`` move a world in and out of the state store.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, date, datetime, time, timedelta
from functools import cached_property
from typing import Any

from sqlalchemy import Engine, delete, insert, select

from clouds.sandbox import state
from clouds.sandbox.blueprint import ACCOUNTS, BLUEPRINTS, Blueprint, Kind, When
from clouds.sandbox.catalog import FLAVOURS, FlavourKey
from clouds.sandbox.demand import stable_hash

DEFAULT_WORLD = "default"
HISTORY_MONTHS = 24


@dataclass(frozen=True)
class SandboxAccount:
    id: str
    flavour: FlavourKey
    role: str
    name: str
    billing_account_id: str


@dataclass(frozen=True)
class SandboxEvent:
    resource_id: str
    at: datetime
    event: str  # created, started, stopped, resized, scaled, detached, terminated
    detail: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class SandboxResource:
    id: str
    flavour: FlavourKey
    account_id: str
    blueprint: str
    name: str
    kind: Kind
    region: str
    zone: str | None
    size: str | None
    state: str
    tags: dict[str, str]
    spec: dict[str, Any]
    created_at: datetime
    terminated_at: datetime | None = None


@dataclass(frozen=True)
class World:
    name: str
    seed: int
    history_start: date
    as_of: date
    accounts: tuple[SandboxAccount, ...]
    resources: tuple[SandboxResource, ...]
    events: tuple[SandboxEvent, ...]

    @property
    def end(self) -> datetime:
        """The first instant with no data: midnight UTC at the start of ``as_of``."""
        return at_midnight(self.as_of)

    def account(self, account_id: str) -> SandboxAccount:
        return next(a for a in self.accounts if a.id == account_id)

    def accounts_of(self, flavour: FlavourKey) -> list[SandboxAccount]:
        return [a for a in self.accounts if a.flavour == flavour]

    def resources_of(self, flavour: FlavourKey) -> list[SandboxResource]:
        return [r for r in self.resources if r.flavour == flavour]

    def events_of(self, resource_id: str) -> list[SandboxEvent]:
        """The resource's events, oldest first (same-instant events in the world's order)."""
        return list(self._events_by_resource.get(resource_id, ()))

    @cached_property
    def _events_by_resource(self) -> dict[str, list[SandboxEvent]]:
        """Every resource's events, grouped once: scanning all events per resource made listing
        a world of n resources take n times n steps."""
        grouped: dict[str, list[SandboxEvent]] = {}
        for event in sorted(self.events, key=lambda e: e.at):
            grouped.setdefault(event.resource_id, []).append(event)
        return grouped


STATE_EVENTS = frozenset({"created", "started", "stopped", "detached", "terminated"})


def state_since(events: Sequence[SandboxEvent]) -> datetime | None:
    """When the resource entered its current state (or attachment): its last lifecycle event
    that changed either, from its events oldest first. A resize or a tag does not count."""
    changes = [event.at for event in events if event.event in STATE_EVENTS]
    return changes[-1] if changes else None


def at_midnight(day: date) -> datetime:
    return datetime.combine(day, time(0), tzinfo=UTC)


def default_history_start(as_of: date, months: int = HISTORY_MONTHS) -> date:
    """The first day of the month ``months`` months before ``as_of``'s month."""
    index = as_of.year * 12 + (as_of.month - 1) - months
    return date(index // 12, index % 12 + 1, 1)


def _hex(seed: int, text: str, digits: int) -> str:
    return format(stable_hash(f"{seed}:{text}"), "016x")[:digits].rjust(digits, "0")


def _digits(seed: int, text: str, count: int) -> str:
    return str(stable_hash(f"{seed}:{text}")).rjust(count, "7")[-count:]


def _account_id(seed: int, flavour: FlavourKey, role: str, name: str) -> str:
    match flavour:
        case FlavourKey.AWS:
            return _digits(seed, f"aws-account:{role}", 12)
        case FlavourKey.AZURE:
            if role == "billing":
                return _digits(seed, "azure-enrollment", 8)
            return str(uuid.UUID(int=stable_hash(f"{seed}:azure-sub:{role}") << 64 | stable_hash(f"{role}:{seed}")))
        case FlavourKey.GCP:
            if role == "billing":
                raw = _hex(seed, "gcp-billing", 18).upper()
                return f"{raw[:6]}-{raw[6:12]}-{raw[12:]}"
            return name


def _resource_id(seed: int, flavour: FlavourKey, bp: Blueprint, account_id: str, zone: str | None) -> str:
    suffix = _hex(seed, f"{flavour}:{bp.key}", 17)
    match flavour, bp.kind:
        case _, Kind.EGRESS:
            return f"egress/{account_id}/{bp.region}"
        case FlavourKey.AWS, Kind.INSTANCE:
            return f"i-{suffix}"
        case FlavourKey.AWS, Kind.VOLUME:
            return f"vol-{suffix}"
        case FlavourKey.AWS, Kind.GROUP:
            return (
                f"arn:aws:autoscaling:{bp.region}:{account_id}:autoScalingGroup:{suffix}:autoScalingGroupName/{bp.name}"
            )
        case FlavourKey.AWS, Kind.DATABASE:
            return f"arn:aws:rds:{bp.region}:{account_id}:db:{bp.name}"
        case FlavourKey.AWS, Kind.BUCKET:
            return bp.name
        case FlavourKey.AZURE, _:
            provider = {
                Kind.INSTANCE: "Microsoft.Compute/virtualMachines",
                Kind.GROUP: "Microsoft.Compute/virtualMachineScaleSets",
                Kind.VOLUME: "Microsoft.Compute/disks",
                Kind.DATABASE: "Microsoft.Sql/servers/wedsync-sql/databases",
                Kind.BUCKET: "Microsoft.Storage/storageAccounts",
            }[bp.kind]
            return f"/subscriptions/{account_id}/resourceGroups/rg-wedsync-{bp.account}/providers/{provider}/{bp.name}"
        case FlavourKey.GCP, _:
            collection = {
                Kind.INSTANCE: f"zones/{zone}/instances",
                Kind.GROUP: f"zones/{zone}/instanceGroupManagers",
                Kind.VOLUME: f"zones/{zone}/disks",
                Kind.DATABASE: "instances",
                Kind.BUCKET: "buckets",
            }[bp.kind]
            return f"projects/{account_id}/{collection}/{bp.name}"
    raise ValueError(f"no id scheme for {flavour} {bp.kind}")


def _moment(when: When, history_start: date, as_of: date) -> datetime:
    if when.from_start is not None:
        day = history_start + timedelta(days=when.from_start)
    else:
        day = as_of - timedelta(days=when.before_end or 0)
    return max(at_midnight(day) + timedelta(hours=when.hour), at_midnight(history_start))


def build_world(seed: int, as_of: date, history_start: date | None = None, name: str = DEFAULT_WORLD) -> World:
    """The whole sandbox estate and its lifecycle up to (not including) ``as_of``."""
    start = history_start or default_history_start(as_of)
    if start >= as_of:
        raise ValueError(f"history start {start} must be before as_of {as_of}")
    end = at_midnight(as_of)
    accounts: list[SandboxAccount] = []
    resources: list[SandboxResource] = []
    events: list[SandboxEvent] = []
    for flavour_key, specs in ACCOUNTS.items():
        flavour = FLAVOURS[flavour_key]
        billing_id = _account_id(seed, flavour_key, "billing", specs[0].name)
        role_to_id = {}
        for spec in specs:
            account_id = billing_id if spec.role == "billing" else _account_id(seed, flavour_key, spec.role, spec.name)
            role_to_id[spec.role] = account_id
            accounts.append(SandboxAccount(account_id, flavour_key, spec.role, spec.name, billing_id))
        ids_by_key: dict[str, str] = {}
        for bp in BLUEPRINTS[flavour_key]:
            created = _moment(bp.created, start, as_of)
            if created >= end:
                continue
            zones = flavour.region(bp.region).zones
            zone = zones[stable_hash(f"{seed}:{bp.key}") % len(zones)] if bp.kind != Kind.BUCKET else None
            account_id = role_to_id[bp.account]
            rid = _resource_id(seed, flavour_key, bp, account_id, zone)
            ids_by_key[bp.key] = rid
            spec_detail: dict[str, Any] = {
                "workload": bp.workload.value,
                "storage_gb": bp.storage_gb,
                "growth_gb_per_day": bp.growth_gb_per_day,
            }
            if bp.kind == Kind.GROUP:
                spec_detail |= {"min": bp.min_capacity, "max": bp.max_capacity, "demand_vcpus": bp.demand_vcpus}
            if bp.kind == Kind.EGRESS:
                spec_detail["egress_gb_per_day"] = bp.egress_gb_per_day
            if bp.attached_to:
                spec_detail["attached_to"] = ids_by_key.get(bp.attached_to)
            tags = {"team": bp.team, "env": "production", "app": "wedsync", **bp.extra_tags}
            initial_state = "running" if bp.kind in (Kind.INSTANCE, Kind.GROUP, Kind.DATABASE) else "available"
            lifecycle = [SandboxEvent(rid, created, "created", {"size": bp.size, "state": initial_state})]
            if bp.resized and (at := _moment(bp.resized[0], start, as_of)) < end:
                lifecycle.append(SandboxEvent(rid, at, "resized", {"size": bp.resized[1]}))
            if bp.stopped and (at := _moment(bp.stopped, start, as_of)) < end:
                lifecycle.append(SandboxEvent(rid, at, "stopped", {}))
            terminated_at = None
            if bp.terminated and (at := _moment(bp.terminated, start, as_of)) < end:
                lifecycle.append(SandboxEvent(rid, at, "terminated", {}))
                terminated_at = at
            size = bp.size
            state_now = initial_state
            for event in lifecycle:
                size = event.detail.get("size", size)
                state_now = {"stopped": "stopped", "terminated": "terminated"}.get(event.event, state_now)
            resources.append(
                SandboxResource(
                    id=rid,
                    flavour=flavour_key,
                    account_id=account_id,
                    blueprint=bp.key,
                    name=bp.name,
                    kind=bp.kind,
                    region=bp.region,
                    zone=zone,
                    size=size,
                    state=state_now,
                    tags=tags,
                    spec=spec_detail,
                    created_at=created,
                    terminated_at=terminated_at,
                )
            )
            events.extend(lifecycle)
    # a volume is detached when the instance it hangs off is terminated
    by_id = {r.id: r for r in resources}
    for resource in list(resources):
        parent = by_id.get(resource.spec.get("attached_to") or "")
        if parent and parent.terminated_at:
            events.append(SandboxEvent(resource.id, parent.terminated_at, "detached", {"from": parent.id}))
            resources[resources.index(resource)] = replace(resource, spec={**resource.spec, "attached_to": None})
    accounts.sort(key=lambda a: (a.flavour.value, a.id))
    resources.sort(key=lambda r: r.id)
    events.sort(key=lambda e: e.at)  # stable: same-instant events keep their causal order
    return World(name, seed, start, as_of, tuple(accounts), tuple(resources), tuple(events))


def save_world(engine: Engine, world: World, created_at: datetime | None = None) -> None:
    """Store ``world``, replacing any world of the same name, in one transaction."""
    with engine.begin() as connection:
        connection.execute(delete(state.worlds).where(state.worlds.c.name == world.name))
        connection.execute(
            insert(state.worlds).values(
                name=world.name,
                seed=world.seed,
                history_start=world.history_start,
                as_of=world.as_of,
                created_at=created_at or datetime.now(UTC),
            )
        )
        connection.execute(
            insert(state.accounts),
            [
                {
                    "id": a.id,
                    "world": world.name,
                    "flavour": a.flavour.value,
                    "role": a.role,
                    "name": a.name,
                    "billing_account_id": a.billing_account_id,
                }
                for a in world.accounts
            ],
        )
        connection.execute(
            insert(state.resources),
            [
                {
                    "id": r.id,
                    "world": world.name,
                    "flavour": r.flavour.value,
                    "account_id": r.account_id,
                    "blueprint": r.blueprint,
                    "name": r.name,
                    "kind": r.kind.value,
                    "region": r.region,
                    "zone": r.zone,
                    "size": r.size,
                    "state": r.state,
                    "tags": r.tags,
                    "spec": r.spec,
                    "created_at": r.created_at,
                    "terminated_at": r.terminated_at,
                }
                for r in world.resources
            ],
        )
        connection.execute(
            insert(state.events),
            [{"resource_id": e.resource_id, "at": e.at, "event": e.event, "detail": e.detail} for e in world.events],
        )


def load_world(engine: Engine, name: str = DEFAULT_WORLD) -> World | None:
    with engine.connect() as connection:
        header = connection.execute(select(state.worlds).where(state.worlds.c.name == name)).one_or_none()
        if header is None:
            return None
        accounts = tuple(
            SandboxAccount(row.id, FlavourKey(row.flavour), row.role, row.name, row.billing_account_id)
            for row in connection.execute(
                select(state.accounts)
                .where(state.accounts.c.world == name)
                .order_by(state.accounts.c.flavour, state.accounts.c.id)
            )
        )
        resources = tuple(
            SandboxResource(
                id=row.id,
                flavour=FlavourKey(row.flavour),
                account_id=row.account_id,
                blueprint=row.blueprint,
                name=row.name,
                kind=Kind(row.kind),
                region=row.region,
                zone=row.zone,
                size=row.size,
                state=row.state,
                tags=dict(row.tags),
                spec=dict(row.spec),
                created_at=row.created_at,
                terminated_at=row.terminated_at,
            )
            for row in connection.execute(
                select(state.resources).where(state.resources.c.world == name).order_by(state.resources.c.id)
            )
        )
        resource_ids = select(state.resources.c.id).where(state.resources.c.world == name)
        events = tuple(
            SandboxEvent(row.resource_id, row.at, row.event, dict(row.detail))
            for row in connection.execute(
                select(state.events)
                .where(state.events.c.resource_id.in_(resource_ids))
                .order_by(state.events.c.at, state.events.c.id)
            )
        )
    return World(name, header.seed, header.history_start, header.as_of, accounts, resources, events)
