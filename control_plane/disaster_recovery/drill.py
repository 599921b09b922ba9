"""A drill: recover the plan's resources in its DR region from their latest backups, in an
isolated network there, check their health, measure the RTO and RPO, delete everything it made
(the network too), and prove it by listing.

The copies carry ``wedcloud:drill=<run id>`` and names of their own (``drill-<id>-<name>``); a
drill never touches DNS or the resources it protects, and its copies run in a network of their
own that nothing routes into or out of (:mod:`control_plane.disaster_recovery.isolation`, which
also says what the health step checks and what it cannot). Whatever happens after the network
is asked for, the teardown runs, so a failed drill leaves nothing behind either.

RTO measured = WedCloud's own time from the start until every copy is ready, plus the longest
time the cloud needs to make one ready (on real clouds that wait is inside the first part; the
sandbox models it, and reports it as the steps' ``cloud_seconds``). RPO measured = the age of the
restored data: the start - the moment the oldest of the restored backups was taken (its source
snapshot's time, not when its cross-region copy finished: a copy holds the data as it was when
the snapshot was taken, however long the copy then took).
"""

from __future__ import annotations

import uuid
from decimal import Decimal
from typing import Any

from sqlalchemy import select

from clouds.errors import CloudError
from control_plane.disaster_recovery import advice
from control_plane.disaster_recovery.isolation import check_health, isolate
from control_plane.disaster_recovery.recover import checked_ready, restore_all, teardown
from control_plane.disaster_recovery.runs import DRILL_TAG, Run, StepFailed, timeline
from control_plane.store.models import Provider, Resource
from control_plane.store.recovery_models import RecoveryRun
from wedcloud.sqltypes import utcnow


def run_drill(run: Run) -> dict[str, Any]:
    with run.sessions() as session:
        plan = run.plan(session)
        row = session.get(RecoveryRun, run.run_id)
        assert row is not None
        started_at = row.started_at
        target = row.target
        provider_id, region = uuid.UUID(target["provider_id"]), target["region"]
        rto_target, rpo_target = plan.rto_seconds, plan.rpo_seconds
        url = (plan.routing or {}).get("health_check_url")
    started = run.monotonic()
    tag = (DRILL_TAG, str(run.run_id))
    made: list[dict[str, Any]] = []
    failure: str | None = None
    isolation: dict[str, Any] = {"isolated": False, "why": "the drill stopped before its network was made"}
    health: dict[str, Any] = {}
    try:
        sources, sized, _ = checked_ready(run, provider_id, region, within_rpo=False)
        adapter = run.adapter(provider_id)
        isolation = isolate(run, adapter, region)
        restore_all(run, sources, provider_id=provider_id, region=region, tag=tag,
                    prefix=f"drill-{run.run_id.hex[:6]}", made=made, sized=sized,
                    network=isolation.get("network_id"))  # fmt: skip
        health = check_health(run, adapter, made, region=region, health_check_url=url,
                              isolated=isolation["isolated"])  # fmt: skip
    except (StepFailed, CloudError) as exc:
        failure = str(exc)
        if not isolation["isolated"] and not made:
            isolation = {"isolated": False, "why": failure}
    healthy_at = run.monotonic()
    cleanup: dict[str, Any] = {}
    try:
        cleanup = teardown(run, [m["cloud_id"] for m in made], provider_id=provider_id, region=region, tag=tag)
    except (StepFailed, CloudError) as exc:
        failure = f"{failure}; " if failure else ""
        failure += f"cleanup: {exc}"
    return _report(run, made, cleanup, failure, started_at=started_at, wall=healthy_at - started,
                   targets=(rto_target, rpo_target), region=region, isolation=isolation, health=health)  # fmt: skip


def _report(run: Run, made: list[dict[str, Any]], cleanup: dict[str, Any], failure: str | None, *,
            started_at: Any, wall: float, targets: tuple[int, int], region: str, isolation: dict[str, Any],
            health: dict[str, Any]) -> dict[str, Any]:  # fmt: skip
    rto_target, rpo_target = targets
    steps = run.steps()
    cloud_wait = max((s.cloud_seconds for s in steps), default=0.0)
    restored = bool(made) and failure is None
    rto = round(wall + cloud_wait, 3) if restored else None
    taken = [m["data_at"] for m in made if m.get("data_at")]
    rpo = round((started_at - min(taken)).total_seconds(), 3) if taken and restored else None
    with run.sessions() as session:
        plan = run.plan(session)
        recommendations = _advice(session, plan, made, steps, rto=rto, rpo=rpo)
    cleaned = bool(cleanup) and not cleanup.get("remaining")
    passed = (restored and cleaned and isolation["isolated"] and rto is not None and rto <= rto_target
              and rpo is not None and rpo <= rpo_target)  # fmt: skip
    verdict = "passed" if passed else "failed"
    summary = (f"drill {verdict}: RTO {_s(rto)} (target {rto_target} s), RPO {_s(rpo)} (target {rpo_target} s), "
               f"{len(made)} resource(s) restored in {region} "
               f"{'in an isolated network' if isolation['isolated'] else '(no isolated network, so none restored)'}, "
               f"{'nothing left behind' if cleaned else 'cleanup not proven'}")  # fmt: skip
    report = {
        "summary": summary,
        "passed": passed,
        "rto_seconds": rto,
        "rpo_seconds": rpo,
        "targets": {"rto_seconds": rto_target, "rpo_seconds": rpo_target},
        "rto_met": rto is not None and rto <= rto_target,
        "rpo_met": rpo is not None and rpo <= rpo_target,
        "restored": [{k: v for k, v in m.items() if k != "data_at"} for m in made],
        "isolation": isolation,
        "health": health,
        "cleanup": cleanup,
        "recommendations": recommendations,
        "steps": timeline(steps),
        "finished_at": utcnow().isoformat(),
    }
    return run.finish(status="succeeded" if failure is None else "failed", report=report, error=failure,
                      rto_seconds=rto, rpo_seconds=rpo, passed=passed)  # fmt: skip


def _s(seconds: float | None) -> str:
    return "not measured" if seconds is None else f"{seconds:.1f} s"


def _advice(session: Any, plan: Any, made: list[dict[str, Any]], steps: list[Any], *, rto: float | None,
            rpo: float | None) -> list[dict[str, Any]]:  # fmt: skip
    sources = {uuid.UUID(m["source_resource_id"]) for m in made}
    rows = list(session.scalars(select(Resource).where(Resource.id.in_(sources)))) if sources else []
    provider = session.get(Provider, plan.primary_provider_id)
    cloud = _cloud_of(provider)
    data_gb = sum((Decimal(str(r.details.get("storage_gb") or 0)) for r in rows), Decimal(0))
    found = []
    if rpo is not None:
        found.append(advice.rpo_advice(measured=rpo, target=plan.rpo_seconds, schedule=plan.backup["schedule"],
                                       retention=plan.backup, data_gb=data_gb, cloud=cloud,
                                       copies=bool(plan.backup.get("cross_region_copy", True))))  # fmt: skip
    if rto is not None:
        restores = [s for s in steps if s.name.startswith("restore ")]
        slowest_step = max(restores, key=lambda s: s.cloud_seconds + _took(s), default=None)
        slowest = None
        hourly, currency = None, None
        if slowest_step is not None:
            source = next((r for r in rows if r.cloud_id == slowest_step.detail.get("source")), None)
            slowest = {"name": source.name if source else slowest_step.name,
                       "seconds": slowest_step.cloud_seconds + _took(slowest_step)}  # fmt: skip
            if source is not None and source.hourly_cost is not None:
                hourly, currency = Decimal(source.hourly_cost), source.cost_currency
        found.append(advice.rto_advice(measured=rto, target=plan.rto_seconds, slowest=slowest, hourly_cost=hourly,
                                       currency=currency))  # fmt: skip
    return [f for f in found if f is not None]


def _took(step: Any) -> float:
    return (step.finished_at - step.started_at).total_seconds() if step.finished_at else 0.0


def _cloud_of(provider: Provider | None) -> str:
    """The cloud whose prices apply: the provider's kind, or the flavour a sandbox imitates."""
    if provider is None:
        return "aws"
    if provider.kind == "sandbox":
        return str((provider.settings or {}).get("flavour", "aws"))
    return provider.kind
