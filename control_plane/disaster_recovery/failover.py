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

Once the switch is verified there is no going back: recording the copies (``adopt``) and the
plan's serving side is retried, and if the cloud keeps refusing, the run ``stayed`` with DNS and
copies where they are. A run whose process died (or that hit an unexpected error) is taken up
from its journal by :func:`resume` under the same rules: past a switch that read back at the
target it rolls forward; before it, the failure path above decides (stay, or go back).

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
from control_plane.disaster_recovery.runs import FAILOVER_TAG, INTERRUPTED, Run, StepFailed, timeline
from control_plane.store.recovery_models import RecoveryPlan, RecoveryRun, RecoveryStep

VERIFY = "verify the service answers its health check"
RECORD_ATTEMPTS = 5  # tries to record the copies serving after the switch, run.poll_seconds apart
# stable keys in a step's detail, by which a resume reads the journal (never by a step's name: a
# name holds free text, a resource's or a record's, and is cut to 200 characters)
SWITCH, ROLLBACK = "switch", "rollback"  # detail["kind"] of the DNS switch; detail["phase"] of going back


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
            with run.step(f"switch {records.name} to {region}", kind=SWITCH, region=region) as step:
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
            _verify(run, url)
    except (StepFailed, CloudError) as exc:
        return _failed(run, made, str(exc), records=records, url=url, switched_from=switched_from,
                       provider_id=provider_id, region=region, tag=tag, dns_provider=dns_provider)  # fmt: skip
    return _complete(run, made, provider_id=provider_id, region=region, recovered=recovered)


def _verify(run: Run, url: str) -> None:
    with run.step(VERIFY) as step:
        ok, seen = health.probe(url)
        step["seen"] = seen
        if not ok:
            raise StepFailed(f"the health check failed after the switch: {seen}")


def _complete(run: Run, made: list[dict[str, Any]], *, provider_id: uuid.UUID, region: str, recovered: float,
              resumed: str | None = None) -> dict[str, Any]:  # fmt: skip
    """DNS serves from ``region`` (verified): record the copies and the plan's serving side,
    retrying the cloud; never undone. If the cloud keeps refusing, the run ``stayed``."""
    for attempt in range(1, RECORD_ATTEMPTS + 1):
        try:
            with run.step(f"record what serves from {region}", attempt=attempt):
                serving = adopt(run, provider_id, made)
                with run.sessions() as session:
                    plan = run.plan(session)
                    plan.active_provider_id, plan.active_region = provider_id, region
                    back_home = (provider_id, region) == (plan.primary_provider_id, plan.primary_region)
                    plan.serving = [] if back_home and not made else serving
                    plan.status = "active" if back_home else "failed_over"
                    plan.failed_checks = 0
                    session.commit()
            break
        except (StepFailed, CloudError) as exc:
            if attempt == RECORD_ATTEMPTS:  # DNS serves from the target: the plan says so, and is degraded
                with run.sessions() as session:
                    plan = run.plan(session)
                    plan.active_provider_id, plan.active_region, plan.status = provider_id, region, "degraded"
                    session.commit()
                summary = (f"DNS serves from {region} and its copies are kept, but they could not be recorded "
                           f"({exc}): see the runbook")  # fmt: skip
                return run.finish(status="stayed", report={"summary": summary, "steps": timeline(run.steps())},
                                  error=str(exc))  # fmt: skip
            run.sleep(run.poll_seconds)
    done = f"failed over to {region} in {recovered:.1f} s"
    report = {"summary": f"{resumed}; it was past the DNS switch, so it was completed: {done}" if resumed else done,
              "recovery_seconds": round(recovered, 3),
              "made": [{k: v for k, v in m.items() if k != "data_at"} for m in made],
              "steps": timeline(run.steps())}  # fmt: skip
    return run.finish(status="succeeded", report=report, rto_seconds=round(recovered, 3))


def resume(run: Run, why: str) -> dict[str, Any]:
    """Take up a failover whose process died (or that stopped on an unexpected error) from its
    journal, read by the steps' stable keys (``kind``, ``phase``), never by their names. A
    rollback that had begun is finished. Past a switch that read back at the target, it rolls
    forward (verifying the health check first if that had not passed). A switch whose journal
    does not say where DNS pointed before it stays: nothing is torn down that DNS may point at.
    Before a switch, the failure path decides: stay if the region left is down, else go back."""
    with run.sessions() as session:
        row = session.get(RecoveryRun, run.run_id)
        assert row is not None
        plan = run.plan(session)
        target, started_at = row.target, row.started_at
        records, url = records_of(plan), (plan.routing or {}).get("health_check_url")
        dns_provider = plan.primary_provider_id
    provider_id, region = uuid.UUID(target["provider_id"]), target["region"]
    steps = run.steps()
    made = _made(steps)
    switches = [s for s in steps if s.detail.get("kind") == SWITCH]
    switch = next((s for s in switches if s.detail.get("region") == region), None)
    switched_from = switch.detail.get("before") if switch is not None else None
    common: dict[str, Any] = {"records": records, "url": url, "switched_from": switched_from,
                              "provider_id": provider_id, "region": region, "tag": (FAILOVER_TAG, str(run.run_id)),
                              "dns_provider": dns_provider}  # fmt: skip
    if switches and (switch is None or switched_from is None or records is None):
        return _stay(run, why, region, "the journal does not say where DNS pointed before the switch")
    if any(s.detail.get("phase") == ROLLBACK for s in steps):
        return _roll_back(run, made, why, **common)
    if switch is None or switch.status != "done" or switch.detail.get("after") != region:
        return _failed(run, made, why, **common)
    verified = next((s for s in steps if s.name == VERIFY), None)
    if url and (verified is None or verified.status != "done"):
        error = (verified.error or {}) if verified is not None else {}
        try:
            if verified is not None and verified.status == "failed" and error.get("type") != INTERRUPTED:
                raise StepFailed(error.get("detail") or "the health check failed after the switch")
            _verify(run, url)
        except StepFailed as exc:
            return _failed(run, made, f"{why}: {exc}", **common)
    assert switch.finished_at is not None
    recovered = (switch.finished_at - started_at).total_seconds() + max((m["cloud_seconds"] for m in made), default=0.0)
    return _complete(run, made, provider_id=provider_id, region=region, recovered=recovered, resumed=why)


def _stay(run: Run, failure: str, region: str, seen: str) -> dict[str, Any]:
    """Nothing undone, the plan ``degraded``, a critical event (the run ``stayed``)."""
    _set_status(run, "degraded")
    summary = f"failover to {region} failed ({failure}); {seen}, so nothing was undone: see the runbook"
    return run.finish(status="stayed", report={"summary": summary, "steps": timeline(run.steps())}, error=failure)


def _made(steps: list[RecoveryStep]) -> list[dict[str, Any]]:
    """What the journal says the run made: each restore step's copy."""
    return [{"cloud_id": s.detail["cloud_id"], "name": s.detail.get("made_name"), "source": s.detail.get("source"),
             "cloud_seconds": float(s.cloud_seconds or 0.0)}
            for s in steps if s.name.startswith("restore ") and s.detail.get("cloud_id")]  # fmt: skip


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
        if any(s.name.startswith("restore ") for s in run.steps()):  # a restore whose answer was lost may have made one
            try:
                refused["cleanup"] = teardown(run, [], provider_id=provider_id, region=region, tag=tag, phase=ROLLBACK)
            except (StepFailed, CloudError) as exc:
                refused["cleanup"] = {"error": str(exc)}
            refused["steps"] = timeline(run.steps())
        return run.finish(status="failed", report=refused, error=failure)
    with run.step("check whether the region we left still serves") as step:
        up, seen = health.source_up(run, url=None if switched_from else url)
        step.update(up=up, seen=seen)
    if not up:
        return _stay(run, failure, region, f"the region we left is down too ({seen})")
    return _roll_back(run, made, failure, records=records, url=url, switched_from=switched_from,
                      provider_id=provider_id, region=region, tag=tag, dns_provider=dns_provider)  # fmt: skip


def _roll_back(run: Run, made: list[dict[str, Any]], failure: str, *, records: DnsRecordSet | None, url: str | None,
               switched_from: str | None, provider_id: uuid.UUID, region: str, tag: tuple[str, str],
               dns_provider: uuid.UUID) -> dict[str, Any]:  # fmt: skip
    """DNS back to where it was, every copy deleted (by the journal and by the run's tag)."""
    errors = []
    if records is not None and switched_from is not None:
        try:
            with run.step(f"switch {records.name} back to {switched_from}", phase=ROLLBACK):
                run.adapter(dns_provider).route_dns(records, active=switched_from, health_check_url=url)
        except (StepFailed, CloudError) as exc:
            errors.append(f"DNS back: {exc}")
    try:
        cleanup = teardown(run, [m["cloud_id"] for m in made], provider_id=provider_id, region=region, tag=tag,
                           phase=ROLLBACK)  # fmt: skip
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
