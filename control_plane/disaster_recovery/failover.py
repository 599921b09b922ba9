"""A failover: move the plan's service to its standby region (a DR target, or back to the primary:
the failback), and move its DNS record there.

1. Readiness: a backup within the RPO for each data store, with a copy in the target region,
   and the target region offering every size needed. A dry run stops here, having changed
   nothing, and reports what would happen.
2. Restore (or make again) every protected resource in the target region.
3. Wait until each is ready (health, as the cloud reports it).
4. Switch DNS: the record's routing before the switch is journalled first.
5. Verify: the record reads back at the target, and the health-check URL answers 2xx.

If a step fails: when the primary is still healthy (or has no health check), everything goes
back: DNS to where it was, the half-made copies deleted (run ``rolled_back``). When the primary
itself is down, the run stays where it got to and raises a critical alert (``stayed``): going
back would send users to a dead region.

Recovery time = from the decision (the run's start) until DNS points at the target, WedCloud's
own time plus the cloud's modelled waits.
"""

from __future__ import annotations

import uuid
from typing import Any

from sqlalchemy.orm import Session

from clouds.base import DnsRecordSet
from clouds.errors import CloudError
from control_plane.disaster_recovery import health
from control_plane.disaster_recovery.recover import adopt, checked_ready, restore_all, teardown
from control_plane.disaster_recovery.runs import FAILOVER_TAG, Run, StepFailed, timeline
from control_plane.store.recovery_models import RecoveryPlan, RecoveryRun


def records_of(plan: RecoveryPlan) -> DnsRecordSet | None:
    routing = plan.routing
    if not routing:
        return None
    return DnsRecordSet(zone=routing["zone"], name=routing["name"], targets=dict(routing["targets"]),
                        type=routing.get("type", "A"), ttl=int(routing.get("ttl", 60)))  # fmt: skip


def run_failover(run: Run) -> dict[str, Any]:
    with run.sessions() as session:
        plan = run.plan(session)
        row = session.get(RecoveryRun, run.run_id)
        assert row is not None
        dry_run, source, target = row.dry_run, row.source, row.target
        records, url = records_of(plan), (plan.routing or {}).get("health_check_url")
        dns_provider = plan.primary_provider_id
    provider_id, region = uuid.UUID(target["provider_id"]), target["region"]
    started = run.monotonic()
    tag = (FAILOVER_TAG, str(run.run_id))
    made: list[dict[str, Any]] = []
    switched_from: str | None = None
    try:
        sources, sized, warnings = checked_ready(run, provider_id, region, within_rpo=True)
        if dry_run:
            report: dict[str, Any] = {"summary": f"dry run: ready to fail over to {region}; nothing was changed",
                      "would": [f"restore {s.name} in {region}" for s in sources]
                      + ([f"point {records.name} at {records.targets.get(region)}"] if records else []),
                      "warnings": warnings, "steps": timeline(run.steps())}  # fmt: skip
            return run.finish(status="succeeded", report=report)
        _set_status(run, "failing_over")
        restore_all(run, sources, provider_id=provider_id, region=region, tag=tag,
                           prefix=f"dr-{run.run_id.hex[:6]}", made=made, sized=sized, keep_tags=True)  # fmt: skip
        if records is not None:
            dns = run.adapter(dns_provider)
            with run.step(f"switch {records.name} to {region}") as step:
                before = dns.dns_routing(records)
                switched_from = (before.active if before else None) or source["region"]
                run.note(f"switch {records.name} to {region}", before=switched_from)
                dns.route_dns(records, active=region, health_check_url=url)
                after = dns.dns_routing(records)
                step.update(before=switched_from, after=after.active if after else None)
                if after is None or after.active != region:
                    raise StepFailed(
                        f"{records.name} reads back as {after.active if after else 'missing'}, not {region}"
                    )
        recovered = run.monotonic() - started + max((m["cloud_seconds"] for m in made), default=0.0)
        if url:
            with run.step("verify the service answers its health check") as step:
                ok, seen = health.probe(url)
                step["seen"] = seen
                if not ok:
                    raise StepFailed(f"the health check failed after the switch: {seen}")
    except (StepFailed, CloudError) as exc:
        return _failed(run, made, str(exc), records=records, url=url, switched_from=switched_from,
                       provider_id=provider_id, region=region, tag=tag, dns_provider=dns_provider)  # fmt: skip
    serving = adopt(run, provider_id, made)
    with run.sessions() as session:
        plan = run.plan(session)
        plan.active_provider_id, plan.active_region = provider_id, region
        back_home = (provider_id, region) == (plan.primary_provider_id, plan.primary_region)
        plan.serving = [] if back_home and not made else serving
        plan.status = "active" if back_home else "failed_over"
        plan.failed_checks = 0
        session.commit()
    report = {"summary": f"failed over to {region} in {recovered:.1f} s",
                              "recovery_seconds": round(recovered, 3),
              "made": [{k: v for k, v in m.items() if k != "data_at"} for m in made],
              "steps": timeline(run.steps())}  # fmt: skip
    return run.finish(status="succeeded", report=report, rto_seconds=round(recovered, 3))


def _set_status(run: Run, status: str) -> None:
    with run.sessions() as session:
        run.plan(session).status = status
        session.commit()


def _failed(run: Run, made: list[dict[str, Any]], failure: str, *, records: DnsRecordSet | None, url: str | None,
            switched_from: str | None, provider_id: uuid.UUID, region: str, tag: tuple[str, str],
            dns_provider: uuid.UUID) -> dict[str, Any]:  # fmt: skip
    if not (made or switched_from):
        _restore_status(run)
        refused: dict[str, Any] = {"summary": f"failover refused: {failure}", "steps": timeline(run.steps())}
        return run.finish(status="failed", report=refused, error=failure)
    with run.step("check whether the region we left still serves") as step:
        up, seen = health.source_up(run, url=None if switched_from else url)
        step.update(up=up, seen=seen)
    if not up:
        _set_status(run, "degraded")
        summary = (f"failover to {region} failed ({failure}); the region we left is down too ({seen}), so nothing "
                   "was undone: see the runbook")  # fmt: skip
        return run.finish(status="stayed", report={"summary": summary, "steps": timeline(run.steps())}, error=failure)
    errors = []
    if records is not None and switched_from is not None:
        try:
            with run.step(f"switch {records.name} back to {switched_from}"):
                run.adapter(dns_provider).route_dns(records, active=switched_from, health_check_url=url)
        except (StepFailed, CloudError) as exc:
            errors.append(f"DNS back: {exc}")
    try:
        cleanup = teardown(run, [m["cloud_id"] for m in made], provider_id=provider_id, region=region, tag=tag)
    except (StepFailed, CloudError) as exc:
        errors.append(f"cleanup: {exc}")
        cleanup = {}
    _set_status(run, "degraded" if errors else _back_status(run))
    summary = f"failover to {region} failed ({failure}) and was rolled back" + (
        f"; the rollback had problems: {'; '.join(errors)}" if errors else ""
    )
    report = {"summary": summary, "cleanup": cleanup, "steps": timeline(run.steps())}
    return run.finish(status="rolled_back", report=report, error=failure)


def _back_status(run: Run) -> str:
    with run.sessions() as session:
        return "failed_over" if run.plan(session).serving else "active"


def _restore_status(run: Run) -> None:
    with run.sessions() as session:
        plan = run.plan(session)
        if plan.status == "failing_over":
            plan.status = "active" if not plan.serving else "failed_over"
        session.commit()


def target_of(session: Session, plan: RecoveryPlan, region: str | None) -> dict[str, str]:
    """The run's target: the named region (the primary or a DR target), or the standby."""
    from control_plane.disaster_recovery.protected import standby_region

    if region is None:
        provider_id, chosen = standby_region(plan)
        return {"provider_id": str(provider_id), "region": chosen}
    if region == plan.primary_region:
        return {"provider_id": str(plan.primary_provider_id), "region": region}
    for target in plan.dr_targets:
        if target["region"] == region:
            return {"provider_id": target.get("provider_id") or str(plan.primary_provider_id), "region": region}
    raise ValueError(region)
