"""The steps drills, failovers and restores share: check readiness, restore every protected
resource in a target region, wait until each is ready, and tear down what a run made.

Every resource a run makes carries its tag (``wedcloud:drill=<run>``, ``wedcloud:failover=<run>``
or ``wedcloud:restore=<run>``) and is noted in the journal as soon as the cloud answers. The
teardown deletes what the journal names and then lists the region for anything else carrying
the tag (made by a call whose answer was lost), then the isolated networks carrying it (a
drill's, once nothing is left in them), and proves the result by listing again.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from clouds.base import COMPUTE_SERVICE, DATABASE_SERVICE, CloudProvider, ProvisionRequest, ResourceState, ResourceType
from clouds.errors import ResourceNotFound
from control_plane.disaster_recovery import sizes, waits
from control_plane.disaster_recovery.backups import newest_backups, recovery_point, slug
from control_plane.disaster_recovery.protected import serving_resources, split
from control_plane.disaster_recovery.runs import PLAN_TAG, Run, StepFailed
from control_plane.services.resources import apply_cloud
from control_plane.store.models import Resource
from control_plane.store.recovery_models import RecoveryBackup, RecoveryPlan
from wedcloud.sqltypes import utcnow


@dataclass(frozen=True)
class Source:
    """A resource to recover, and the snapshot in the target region to recover it from."""

    resource_id: uuid.UUID
    provider_id: uuid.UUID
    cloud_id: str
    name: str
    subtype: str
    size: str | None
    region: str
    details: dict[str, Any]
    snapshot_id: str | None  # None: made again (stateless)
    data_at: datetime | None  # when the restored data was taken: the source snapshot's moment
    tags: dict[str, str]  # the source's own (not WedCloud's)


def snapshot_in(backup: RecoveryBackup, region: str) -> str | None:
    """The backup's snapshot that can be restored in ``region``: its copy there, or the snapshot
    itself when it is stored there (or in a multi-region location that a copy named as such)."""
    for copy in backup.copies:
        if copy.get("region") == region:
            return str(copy["snapshot_id"])
    return backup.snapshot_id if backup.region == region else None


def readiness(session: Session, plan: RecoveryPlan, provider_id: uuid.UUID, region: str,
              *, within_rpo: bool) -> tuple[list[Source], list[str]]:  # fmt: skip
    """What can be recovered in (provider, region) and every reason it cannot be yet."""
    problems: list[str] = []
    stateful, stateless, _other = split(serving_resources(session, plan))
    if not (stateful or stateless):
        problems.append("the plan protects no live resource: check its selection")
    newest = newest_backups(session, plan)
    now = utcnow()
    sources = []
    for row in stateful:
        backup = newest.get(row.cloud_id)
        if row.provider_id != provider_id:
            problems.append(f"{row.name}: a {row.subtype} cannot be restored on another provider (cold standby "
                            "takes stateless tiers only)")  # fmt: skip
            continue
        snapshot = snapshot_in(backup, region) if backup else None
        point = recovery_point(plan, backup) if backup else None
        if backup is None:
            problems.append(f"{row.name}: no completed backup yet")
        elif snapshot is None:
            problems.append(f"{row.name}: its newest backup has no copy in {region} (turn on cross_region_copy)")
        elif within_rpo and point is not None and (now - point).total_seconds() > plan.rpo_seconds:
            age = (now - point).total_seconds()
            problems.append(f"{row.name}: its newest backup is {age / 3600:.1f} h old, past the RPO "
                            f"of {plan.rpo_seconds / 3600:.1f} h")  # fmt: skip
        if snapshot is not None and backup is not None:
            sources.append(_source(row, snapshot, backup.taken_at))
    sources.extend(_source(row, None, None) for row in stateless)
    return sources, problems


def _source(row: Resource, snapshot_id: str | None, data_at: datetime | None) -> Source:
    own = {k: str(v) for k, v in row.tags.items() if not str(k).startswith("wedcloud:")}
    return Source(row.id, row.provider_id, row.cloud_id, row.name, row.subtype, row.size, row.region,
                  dict(row.details), snapshot_id, data_at, own)  # fmt: skip


def target_sizes(run: Run, sources: list[Source], provider_id: uuid.UUID, region: str
                 ) -> tuple[dict[str, str | None], list[str], list[str]]:  # fmt: skip
    """Each source's size in the target region (by cloud id; None: the snapshot's own), with the
    problems (a size the region does not offer, no equivalent on a cold standby) and warnings
    (a catalogue that cannot be read: sizes unchecked)."""
    target = sizes.catalogue(run.adapter(provider_id), region)
    offered: dict[str | None, set[str]] = {}
    for t in target:
        offered.setdefault(t.service, set()).add(t.name)
    chosen: dict[str, str | None] = {}
    problems: list[str] = []
    warnings: list[str] = []
    for source in sources:
        service = DATABASE_SERVICE if source.subtype == "database" else COMPUTE_SERVICE
        if not source.size or source.size.endswith("GB"):
            chosen[source.cloud_id] = None
        elif source.size.isdigit():  # an AWS group's size is its capacity: its launch template holds the type
            chosen[source.cloud_id] = source.size
        elif source.provider_id == provider_id:
            chosen[source.cloud_id] = source.size
            if service not in offered:  # no catalogue of this kind there (the shipped one prices VMs only)
                warnings.append(f"{source.size} ({source.name}) not checked: no {service} catalogue for {region}")
            elif source.size not in offered[service]:
                problems.append(f"{region} does not offer {source.size} ({source.name})")
        else:
            own = sizes.catalogue(run.adapter(source.provider_id), source.region)
            found = sizes.equivalent(source.size, own, target)
            chosen[source.cloud_id] = found
            if found is None:
                problems.append(f"no size in {region} of the standby provider holds {source.size} ({source.name})")
    return chosen, problems, warnings


def checked_ready(run: Run, provider_id: uuid.UUID, region: str, *, within_rpo: bool
                  ) -> tuple[list[Source], dict[str, str | None], list[str]]:  # fmt: skip
    """The journalled readiness step of a drill or a failover: (the sources, their sizes in the
    target region, warnings), or StepFailed listing every problem."""
    with run.step(f"check readiness in {region}") as step:
        with run.sessions() as session:
            sources, problems = readiness(session, run.plan(session), provider_id, region, within_rpo=within_rpo)
        sized, lacking, warnings = target_sizes(run, sources, provider_id, region)
        problems += lacking
        step.update(sources=[s.cloud_id for s in sources], problems=problems, warnings=warnings)
        if problems:
            raise StepFailed("; ".join(problems))
    return sources, sized, warnings


def made_name(prefix: str, source: Source) -> str:
    """``<prefix>-<source name>-<source id>``: at most 63 letters, digits and single hyphens; the
    name is cut to fit (a copy of a copy would grow), the source's id keeps two apart."""
    return f"{slug(prefix, 24)}-{slug(source.name, 32)}-{source.resource_id.hex[:4]}"


def restore_all(run: Run, sources: list[Source], *, provider_id: uuid.UUID, region: str, tag: tuple[str, str],
                prefix: str, made: list[dict[str, Any]], sized: dict[str, str | None],
                keep_tags: bool = False, network: str | None = None) -> None:  # fmt: skip
    """Start a restore (or a provision) of every source in the target region, then wait for each
    to be ready. The cloud works on them all at once; a sandbox restore's modelled time is the
    step's ``cloud_seconds``. Each made resource is noted the moment the cloud answers.
    Each is appended to ``made`` as it is made, so a caller that catches a failure knows what to
    delete. ``keep_tags``: the copies also carry the sources' own tags (they take their place).
    ``network``: the isolated network to place every copy in (a drill's)."""
    adapter = run.adapter(provider_id)
    for source in sources:
        name = made_name(prefix, source)
        tags = {**(source.tags if keep_tags else {}), tag[0]: tag[1]}
        if run.plan_id is not None:
            tags[PLAN_TAG] = str(run.plan_id)
        with run.step(f"restore {source.name} in {region}", source=source.cloud_id, snapshot_id=source.snapshot_id,
                      made_name=name) as step:  # fmt: skip
            size = sized.get(source.cloud_id)
            resource = (
                adapter.restore(source.snapshot_id, region=region, name=name, tags=tags, size=size, network=network)
                if source.snapshot_id
                else adapter.provision(_again(source, size, region, name, tags, run.run_id, network))
            )
            step["cloud_id"] = resource.id
            step["cloud_seconds"] = float(resource.details.get("ready_after_seconds") or 0)
            made.append({"cloud_id": resource.id, "name": resource.name, "source": source.cloud_id,
                         "source_resource_id": str(source.resource_id), "subtype": resource.subtype,
                         "cloud_seconds": step["cloud_seconds"], "data_at": source.data_at})  # fmt: skip
    with run.step(f"wait until {len(made)} resource(s) in {region} are ready") as step:
        ready = []
        for item in made:
            resource = waits.resource_ready(run, adapter, adapter.describe(item["cloud_id"]))
            ready.append({"cloud_id": resource.id, "state": resource.state.value})
        step["ready"] = ready
        step["cloud_seconds"] = max((m["cloud_seconds"] for m in made), default=0.0)


def _again(source: Source, size: str | None, region: str, name: str, tags: dict[str, str], run_id: uuid.UUID,
           network: str | None) -> ProvisionRequest:  # fmt: skip
    options: dict[str, Any] = {"subtype": source.subtype, "client_token": f"{run_id.hex[:12]}-{source.cloud_id}"[-64:]}
    # a group's bounds and how it launches (an AWS launch template is regional: the DR region needs
    # one of the same name)
    for key in ("min", "max", "capacity", "desired", "demand_vcpus", "workload", "launch_template"):
        if source.details.get(key) is not None:
            options[key] = source.details[key]
    if not size:
        raise StepFailed(f"{source.name} has no size to make it again with")
    return ProvisionRequest(name=name, resource_type=ResourceType.COMPUTE, region=region, size=size,
                            tags=tags, options=options, network=network)  # fmt: skip


def teardown(run: Run, made: list[str], *, provider_id: uuid.UUID, region: str, tag: tuple[str, str],
             **marks: str) -> dict[str, Any]:  # fmt: skip
    """Delete every resource in ``made`` and every other one in ``region`` carrying ``tag``, then
    every snapshot carrying it (a cloud may snapshot a database as it deletes it: AWS's final
    snapshot, which has the copy's tags) and every isolated network carrying it, and list the
    region again until nothing carries the tag: the proof names what is left (nothing, when it
    worked). ``marks``: stable keys put in both steps' detail (a failover's ``phase``)."""
    adapter = run.adapter(provider_id)
    deleted: list[str] = []
    with run.step(f"delete what the run made in {region}", resources=made, **marks) as step:
        tagged = [r.id for r in adapter.list_resources(region=region)
                  if r.tags.get(tag[0]) == tag[1] and r.state != ResourceState.TERMINATED]  # fmt: skip
        for cloud_id in dict.fromkeys([*made, *tagged]):
            try:
                if waits.terminated(run, adapter, cloud_id):
                    deleted.append(cloud_id)
            except ResourceNotFound:
                continue
        step["deleted"] = deleted
    with run.step(f"list {region} to prove nothing is left", **marks) as step:
        proof = _left(run, adapter, region, tag, deleted)
        step.update(remaining=proof["remaining"], deleted_snapshots=proof["deleted_snapshots"],
                    deleted_networks=proof["deleted_networks"])  # fmt: skip
        if proof["remaining"]:
            raise StepFailed(f"{len(proof['remaining'])} resource(s) carrying {tag[0]}={tag[1]} are still in {region}")
    return {"deleted": deleted, **proof}


def _left(run: Run, adapter: CloudProvider, region: str, tag: tuple[str, str], deleted: list[str]) -> dict[str, Any]:
    """List what still carries the tag, deleting the snapshots among it and, once no resource is
    left in them, the isolated networks, until nothing is left (or ``run.wait_seconds`` have
    passed: a cloud still finishing a deletion)."""
    deadline = run.monotonic() + run.wait_seconds
    gone: list[str] = []
    networks_gone: list[str] = []
    while True:
        resources = [f"{r.subtype} {r.id} ({r.state.value})" for r in adapter.list_resources(region=region)
                     if r.tags.get(tag[0]) == tag[1] and r.state != ResourceState.TERMINATED]  # fmt: skip
        snapshots = [s.id for s in adapter.list_snapshots(region=region, tags={tag[0]: tag[1]})]
        for snapshot_id in snapshots:
            adapter.delete_snapshot(snapshot_id)
            gone.append(snapshot_id)
        networks = [n.id for n in adapter.isolated_networks(region=region, tags={tag[0]: tag[1]})]
        if not resources:  # a network is deleted once nothing is left in it
            for network_id in networks:
                if adapter.delete_network(network_id, region=region):
                    networks_gone.append(network_id)
            networks = [n for n in networks if n not in networks_gone]
        listing = {"listed_at": utcnow().isoformat(), "region": region, "listed": "resources, snapshots and networks",
                   "deleted_snapshots": gone, "deleted_networks": networks_gone}  # fmt: skip
        if not resources and not snapshots and not networks:
            return {**listing, "remaining": []}
        if run.monotonic() > deadline:
            return {**listing, "remaining": resources + [f"snapshot {s}" for s in snapshots]
                    + [f"network {n}" for n in networks]}  # fmt: skip
        run.sleep(run.poll_seconds)


def adopt(run: Run, provider_id: uuid.UUID, made: list[dict[str, Any]]) -> list[str]:
    """Inventory rows for the copies that serve now, as a provision records what it made
    (``resources.apply_cloud``: the cloud's facts and the size's list price); their ids."""
    adapter = run.adapter(provider_id)
    ids = []
    with run.sessions() as session:
        for item in made:
            found = adapter.describe(item["cloud_id"])
            query = select(Resource).where(Resource.provider_id == provider_id, Resource.cloud_id == found.id)
            row = session.scalars(query).one_or_none()
            if row is None:
                row = Resource(id=uuid.uuid4(), provider_id=provider_id, cloud_id=found.id, created_at=utcnow())
                session.add(row)
            apply_cloud(row, found, adapter)
            row.desired_state = row.state
            session.flush()
            ids.append(str(row.id))
        session.commit()
    return ids
