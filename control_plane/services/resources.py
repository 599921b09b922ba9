"""Resources: provisioning and lifecycle changes (reading them: ``services.resource_queries``).

Every change to a cloud is an operation (``services.operations``). The request's transaction
records the operation and, for a provision, a row in ``provisioning`` whose ``cloud_id`` is not
known yet (``pending:<operation id>``). The work then asks the provider, passing the operation
id as the client token, and fills the row in. A crash between the provider's answer and that
write leaves the operation unfinished; ``reconciler.reconcile`` repeats the call with the same
token, which the adapters answer with the resource already made, so nothing is made twice.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from clouds.base import CloudProvider, CloudResource, ProvisionRequest, ResourceState, ResourceType, ScaleRequest
from clouds.errors import CloudError, InvalidStateTransition
from control_plane.crypto import Cipher
from control_plane.services import operations
from control_plane.services.errors import Conflict, InvalidRequest, NotFound
from control_plane.services.inventory import values_of
from control_plane.services.providers import ADAPTERS
from control_plane.store.models import Operation, Provider, Resource
from wedcloud.sqltypes import utcnow

AdapterFor = Callable[[Provider, Session], CloudProvider]
PENDING_PREFIX = "pending:"
POWERED = ("instance", "instance_group", "database")
# action -> (states it may start from, the state it ends in)
TRANSITIONS: dict[str, tuple[frozenset[str], str]] = {
    "start": (frozenset({"stopped"}), "running"),
    "stop": (frozenset({"running"}), "stopped"),
    "terminate": (frozenset({"running", "stopped", "available", "failed"}), "terminated"),
}
SUBTYPES = {
    ResourceType.COMPUTE: ("instance", "instance_group"),
    ResourceType.STORAGE: ("volume", "bucket"),
    ResourceType.DATABASE: ("database",),
}


@dataclass(frozen=True)
class ProvisionSpec:
    """What ``POST /resources`` asks for, checked against the provider before it is accepted."""

    provider_id: uuid.UUID
    name: str
    resource_type: ResourceType
    size: str
    region: str | None = None
    subtype: str | None = None
    image: str | None = None
    network: str | None = None
    tags: dict[str, str] = field(default_factory=dict)
    options: dict[str, Any] = field(default_factory=dict)

    def as_request(self) -> dict[str, Any]:
        return {
            "provider_id": str(self.provider_id), "name": self.name, "type": self.resource_type.value,
            "subtype": self.subtype, "size": self.size, "region": self.region, "image": self.image,
            "network": self.network, "tags": self.tags, "options": self.options,
        }  # fmt: skip


def check_spec(provider: Provider, spec: ProvisionSpec) -> ProvisionRequest:
    """The provider request for ``spec``, or InvalidRequest naming each field that cannot work."""
    if spec.resource_type not in SUBTYPES:
        provisionable = ", ".join(t.value for t in SUBTYPES)
        raise InvalidRequest(
            f"a {spec.resource_type.value} resource cannot be provisioned; type is one of {provisionable}",
            errors=[{"location": "body", "field": "type", "message": f"one of {provisionable}"}],
        )
    errors = []
    region = spec.region or provider.default_region
    if not region or (provider.regions and region not in provider.regions):
        errors.append(("region", f"one of the provider's regions: {', '.join(provider.regions)}"))
    subtype = spec.subtype or SUBTYPES[spec.resource_type][0]
    if subtype not in SUBTYPES[spec.resource_type]:
        errors.append(("subtype", f"for {spec.resource_type.value}: one of {', '.join(SUBTYPES[spec.resource_type])}"))
    elif subtype == "volume" and not spec.size.removesuffix("GB").isdigit():
        errors.append(("size", "a volume's size is a number of GB such as '100GB'"))
    if subtype == "instance_group":
        low, high = spec.options.get("min", 1), spec.options.get("max", 4)
        if not (isinstance(low, int) and isinstance(high, int) and 0 <= low <= high <= 1000):
            errors.append(("options", "an instance group needs integer options.min <= options.max (0..1000)"))
    request = ProvisionRequest(
        name=spec.name,
        resource_type=spec.resource_type,
        region=str(region),
        size=spec.size,
        image=spec.image,
        network=spec.network,
        tags=spec.tags,
        options={**spec.options, "subtype": subtype},
    )
    if subtype in SUBTYPES[spec.resource_type]:  # the provider's own rules for that subtype
        errors.extend(ADAPTERS[provider.kind].provision_problems(request))
    if errors:
        raise InvalidRequest(
            "the resource cannot be provisioned as asked: "
            + "; ".join(f"{name}: {message}" for name, message in errors),
            errors=[{"location": "body", "field": name, "message": message} for name, message in errors],
        )
    return request


def _price(adapter: CloudProvider, region: str, size: str | None) -> tuple[Decimal | None, str | None]:
    """The list price per hour of a size, where the adapter has a catalogue."""
    if not size:
        return None, None
    try:
        catalogue = adapter.price_catalogue(region=region)
    except CloudError:
        return None, None
    found = next((t for t in catalogue if t.name == size), None)
    return (found.hourly_price.quantize(Decimal("0.000001")), found.currency) if found else (None, None)


def apply_cloud(row: Resource, resource: CloudResource, adapter: CloudProvider) -> None:
    """Copy what the provider says of a resource onto its row."""
    for key, value in values_of(resource).items():
        setattr(row, key, value)
    row.cloud_id = resource.id
    row.launched_at = row.launched_at or resource.created_at
    row.last_seen_at = utcnow()
    row.terminated_at = utcnow() if resource.state == ResourceState.TERMINATED and not row.terminated_at else None
    row.hourly_cost, row.cost_currency = _price(adapter, resource.region, resource.size)


# -- provisioning ----------------------------------------------------------------------------
def begin_provision(
    session: Session,
    provider: Provider,
    spec: ProvisionSpec,
    *,
    actor: str,
    idempotency_key: str | None,
    cipher: Cipher | None = None,
) -> tuple[Operation, bool, ProvisionRequest]:
    request = check_spec(provider, spec)
    body = {**spec.as_request(), "region": request.region, "subtype": request.options["subtype"]}
    row_id = uuid.uuid4()
    operation, created = operations.begin(
        session, kind="provision", actor=actor, request=body, provider_id=provider.id,
        idempotency_key=idempotency_key, target=target_of(row_id), cipher=cipher,
        sealed={"request": request_json(request)},
    )  # fmt: skip
    if created:
        row = pending_row(provider, request, operation.id)
        row.id = row_id
        session.add(row)
        operation.resource_id = row.id
        session.flush()
    return operation, created, request


def target_of(resource_id: uuid.UUID) -> str:
    """An operation's ``target`` when it changes WedCloud's resource row ``resource_id``."""
    return f"resource:{resource_id}"


def request_json(request: ProvisionRequest) -> dict[str, Any]:
    return {**vars(request), "resource_type": request.resource_type.value}


def request_from_json(body: dict[str, Any]) -> ProvisionRequest:
    return ProvisionRequest(**{**body, "resource_type": ResourceType(body["resource_type"])})


def pending_row(provider: Provider, request: ProvisionRequest, operation_id: uuid.UUID | str) -> Resource:
    """The row of a resource being provisioned, until the provider names it (``pending:<key>``)."""
    return Resource(
        id=uuid.uuid4(),
        provider_id=provider.id,
        cloud_id=f"{PENDING_PREFIX}{operation_id}",
        name=request.name,
        resource_type=request.resource_type.value,
        subtype=str(request.options["subtype"]),
        region=request.region,
        size=request.size,
        state=ResourceState.PROVISIONING.value,
        desired_state=desired_after_provision(str(request.options["subtype"])),
        tags=dict(request.tags),
        details={},
        protected=bool(request.options.get("protected", False)),
    )


def desired_after_provision(subtype: str) -> str:
    """The state a provision asks for: running for what has a power state, available otherwise."""
    return ResourceState.RUNNING.value if subtype in POWERED else ResourceState.AVAILABLE.value


def with_token(request: ProvisionRequest, token: str) -> ProvisionRequest:
    """``request`` carrying a client token: the provider makes at most one resource per token."""
    return ProvisionRequest(**{**vars(request), "options": {**request.options, "client_token": token}})


def _operated(
    session: Session, operation_id: uuid.UUID, adapter_for: AdapterFor, when: str = ""
) -> tuple[Resource, CloudProvider]:
    """The resource an operation acts on and the adapter of its provider; NotFound if either
    was removed since the operation began."""
    operation = operations.get_operation(session, operation_id)
    row = session.get(Resource, operation.resource_id)
    provider = session.get(Provider, operation.provider_id)
    if row is None or provider is None:
        raise NotFound(" ".join(filter(None, ("the resource or its provider was removed", when))))
    return row, adapter_for(provider, session)


def provision_work(adapter_for: AdapterFor, operation_id: uuid.UUID, request: ProvisionRequest) -> operations.Work:
    def work(session: Session) -> dict[str, Any]:
        row, adapter = _operated(session, operation_id, adapter_for, "while it was being provisioned")
        try:
            made = adapter.provision(with_token(request, str(operation_id)))
        except CloudError as exc:
            if not exc.retryable:  # (a busy provider: the operation is tried again, same token)
                row.state = ResourceState.FAILED.value
                session.commit()  # the row says failed even though the operation's work raises
            raise
        apply_cloud(row, made, adapter)
        return {"resource_id": str(row.id), "cloud_id": made.id, "state": row.state}

    return work


# -- lifecycle -------------------------------------------------------------------------------
def check_transition(row: Resource, action: str) -> None:
    allowed, target = TRANSITIONS[action]
    if row.state == target:
        return  # already there: the action is harmless
    if action in ("start", "stop") and row.subtype not in POWERED:
        raise Conflict(f"a {row.subtype} has no power state to {action}", state=row.state)
    if row.state not in allowed:
        raise Conflict(
            f"cannot {action} {row.name!r} while it is {row.state}; {action} is allowed from "
            f"{', '.join(sorted(allowed))}",
            state=row.state,
        )
    if action == "terminate" and row.protected:
        raise Conflict(f"{row.name!r} is protected; clear its protection flag (PUT) before terminating it")


def check_scale(row: Resource, scale: ScaleRequest) -> None:
    if row.state in (ResourceState.TERMINATED.value, ResourceState.PROVISIONING.value, ResourceState.FAILED.value):
        raise Conflict(f"cannot scale {row.name!r} while it is {row.state}", state=row.state)
    if scale.capacity is not None and row.subtype != "instance_group":
        raise InvalidRequest("only an instance group scales horizontally (capacity); give a size instead")
    if scale.size is not None and row.subtype not in POWERED:
        raise InvalidRequest(f"a {row.subtype} has no instance type to change")


def action_work(
    adapter_for: AdapterFor, operation_id: uuid.UUID, action: str, payload: dict[str, Any]
) -> operations.Work:
    """Start, stop, terminate or scale a resource at its provider, then record what it says."""

    def work(session: Session) -> dict[str, Any]:
        row, adapter = _operated(session, operation_id, adapter_for)
        before = {"state": row.state, "size": row.size}
        try:
            if action == "scale":
                scale = ScaleRequest(size=payload.get("size"), capacity=payload.get("capacity"))
                made = scale_resource(adapter, row.cloud_id, scale, running=row.state == ResourceState.RUNNING.value)
            else:
                made = getattr(adapter, action)(row.cloud_id)
        except CloudError:
            _record_truth(session, row, adapter)  # part of it may have happened (a scale stopped it)
            raise
        apply_cloud(row, made, adapter)
        if action == "scale" and payload.get("capacity") is not None:
            row.details = {**row.details, "desired": payload["capacity"]}
        return {"resource_id": str(row.id), "before": before, "after": {"state": row.state, "size": row.size}}

    return work


def _record_truth(session: Session, row: Resource, adapter: CloudProvider) -> None:
    """Write down what the provider says of ``row`` now, if it answers."""
    try:
        apply_cloud(row, adapter.describe(row.cloud_id), adapter)
    except CloudError:
        return
    session.commit()


def scale_resource(adapter: CloudProvider, cloud_id: str, scale: ScaleRequest, *, running: bool) -> CloudResource:
    """Vertical scaling stops and restarts a running instance the provider will only resize when
    stopped."""
    try:
        return adapter.scale(cloud_id, scale)
    except InvalidStateTransition:
        if scale.size is None or not running:
            raise
    adapter.stop(cloud_id)
    adapter.scale(cloud_id, scale)
    return adapter.start(cloud_id)


def begin_action(
    session: Session, row: Resource, action: str, *, actor: str, idempotency_key: str | None, payload: dict[str, Any]
) -> tuple[Operation, bool]:
    if row.cloud_id.startswith(PENDING_PREFIX):
        raise Conflict(f"{row.name!r} is still being provisioned; wait for its operation", state=row.state)
    operation, created = operations.begin(
        session, kind=action, actor=actor, request={"resource_id": str(row.id), **payload},
        provider_id=row.provider_id, resource_id=row.id, idempotency_key=idempotency_key, target=target_of(row.id),
    )  # fmt: skip
    if created and action in TRANSITIONS:  # what WedCloud now asks of it (health compares it with state)
        row.desired_state = TRANSITIONS[action][1]
    return operation, created


# -- bulk ----------------------------------------------------------------------------------------
BULK_LIMIT = 1000


def bulk_work(
    adapter_for: AdapterFor,
    operation_id: uuid.UUID,
    items: list[tuple[int, uuid.UUID, ProvisionRequest | None, str | None]],
    *,
    atomic: bool,
) -> operations.Work:
    """Provision each (index, provider, request) in turn; a request of None failed its checks
    (its error is the fourth element). With ``atomic``, the first failure terminates what was
    made and removes the rows, and the operation fails."""

    def work(session: Session) -> dict[str, Any]:
        adapters: dict[uuid.UUID, CloudProvider] = {}
        providers = {p.id: p for p in session.scalars(select(Provider).where(Provider.id.in_({i[1] for i in items})))}
        results: list[dict[str, Any]] = []
        made: list[tuple[CloudProvider, Resource]] = []
        for index, provider_id, request, problem in items:
            if request is None:
                results.append({"index": index, "status": "failed", "error": problem})
                if atomic:
                    break
                continue
            provider = providers[provider_id]
            adapter = adapters.get(provider_id) or adapters.setdefault(provider_id, adapter_for(provider, session))
            row = _bulk_row(session, provider, request, operation_id, index)
            try:
                resource = adapter.provision(with_token(request, f"{operation_id}:{index}"))
            except CloudError as exc:
                if exc.retryable:  # busy or unreachable: the whole operation is tried again, same tokens
                    raise
                row.state = ResourceState.FAILED.value
                results.append({"index": index, "status": "failed", "error": str(exc), "resource_id": str(row.id)})
                if atomic:
                    _discard(session, row)
                    break
                continue
            row = _adopt(session, row, resource)
            apply_cloud(row, resource, adapter)
            made.append((adapter, row))
            results.append({"index": index, "status": "succeeded", "resource_id": str(row.id), "cloud_id": resource.id})
        failed = [r for r in results if r["status"] == "failed"]
        if atomic and failed:
            for adapter, row in made:
                adapter.terminate(row.cloud_id)
                _discard(session, row)
            session.commit()
            first = failed[0]
            raise InvalidRequest(
                f"spec {first['index']} failed ({first['error']}); atomic: the {len(made)} resource(s) already made "
                "were terminated and nothing was kept"
            )
        return {
            "counts": {"succeeded": len(results) - len(failed), "failed": len(failed)},
            "results": results,
        }

    return work


def _bulk_row(
    session: Session, provider: Provider, request: ProvisionRequest, operation_id: uuid.UUID, index: int
) -> Resource:
    """The row of spec ``index``: the one an interrupted attempt left, or a new one."""
    pending = f"{PENDING_PREFIX}{operation_id}:{index}"
    with session.no_autoflush:  # (a flush would hold SQLite's write lock during the provider calls)
        row = session.scalar(select(Resource).where(Resource.provider_id == provider.id, Resource.cloud_id == pending))
    if row is None:
        row = pending_row(provider, request, operation_id)
        row.cloud_id = pending
        session.add(row)
    return row


def _adopt(session: Session, row: Resource, resource: CloudResource) -> Resource:
    """The row for what the provider made: an existing row of it (an earlier attempt recorded
    it) rather than a second one."""
    with session.no_autoflush:
        existing = session.scalar(
            select(Resource).where(Resource.provider_id == row.provider_id, Resource.cloud_id == resource.id)
        )
    if existing is None or existing is row:
        return row
    _discard(session, row)
    return existing


def _discard(session: Session, row: Resource) -> None:
    if row in session.new:
        session.expunge(row)
    else:
        session.delete(row)


BulkItem = tuple[int, uuid.UUID, ProvisionRequest | None, str | None]


def bulk_sealed(items: list[BulkItem], *, atomic: bool) -> dict[str, Any]:
    """What a bulk provision keeps sealed, so that a resumed one provisions the same specs."""
    return {
        "atomic": atomic,
        "items": [
            {"index": i, "provider_id": str(p), "request": request_json(r) if r else None, "problem": problem}
            for i, p, r, problem in items
        ],
    }


def bulk_items(sealed: dict[str, Any]) -> list[BulkItem]:
    return [
        (
            item["index"],
            uuid.UUID(item["provider_id"]),
            request_from_json(item["request"]) if item["request"] else None,
            item["problem"],
        )
        for item in sealed["items"]
    ]
