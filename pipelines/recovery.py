"""Disaster recovery on schedule: each plan's backups and drills, and its automatic failover.

The issue asks for a Dagster schedule per plan. Plans are runtime data: they are created,
changed and deleted through the API while the code location runs, and a ``ScheduleDefinition``
is code, fixed when the location loads, so a schedule per plan would need the location reloaded
(or a code change) for every plan. One sensor does the same job for every plan instead:

- ``dr_schedules`` (every 60 s): for each plan, its backup cron (``backup.schedule``) and drill
  cron (``drill_schedule``) are read against its last run of that kind
  (``control_plane.disaster_recovery.schedules.due_runs``); a run that is due is requested
  (``dr_backup_job`` or ``dr_drill_job``, the plan and the due time in the op's config) with
  the run key ``<plan id>:<kind>:<due time>``, so Dagster launches each due time once, and the
  sensor's cursor keeps the last due time requested per plan and kind, so a due time whose run
  has not started yet is not asked for again. A changed cron applies at the next tick; a deleted
  plan is forgotten.
- ``dr_health`` (every 30 s): each plan with automatic failover probes its health-check URL
  once (``control_plane.disaster_recovery.watch``); at the plan's threshold of failures in a row,
  a plan that requires approval gets a critical ``dr`` event (and the ``disaster_recovery``
  alert), and one that does not gets a ``dr_failover_job`` run. The failover runs in the job,
  not in the sensor: a sensor tick must end within Dagster's time limit, a failover takes
  minutes. Probes are sequential, each bounded by the outbound timeout
  (``WEDCLOUD_OUTBOUND_TIMEOUT_SECONDS``).

Both run by default, like the daily drift check: a plan whose backups stop is a plan that
cannot be recovered.
"""

# No `from __future__ import annotations`: Dagster reads the sensors' annotations as classes.
import json

import dagster as dg

from assets.recovery import BACKUP_OP, DRILL_OP, FAILOVER_OP, run_auto_failover, run_dr_drill, take_dr_backup
from assets.resources import ProvidersResource
from control_plane.disaster_recovery import schedules, watch

PLAN_TAG = "wedcloud/dr_plan"  # the plan's name, a label: the config holds its id
SCHEDULES_SENSOR, HEALTH_SENSOR = "dr_schedules", "dr_health"


@dg.job(name="dr_backup_job", description="Take one disaster-recovery plan's backup (snapshots and their copies).")
def dr_backup_job() -> None:
    take_dr_backup()


@dg.job(name="dr_drill_job", description="Run one disaster-recovery plan's drill and clean up after it.")
def dr_drill_job() -> None:
    run_dr_drill()


@dg.job(name="dr_failover_job", description="Fail a plan over whose health checks failed (automatic failover).")
def dr_failover_job() -> None:
    run_auto_failover()


JOB_OF = {"backup": (dr_backup_job, BACKUP_OP), "drill": (dr_drill_job, DRILL_OP)}


def _request(due: schedules.Due) -> dg.RunRequest:
    job, op = JOB_OF[due.kind]
    config = {"plan_id": str(due.plan_id), "due_at": due.due_at.isoformat()}
    return dg.RunRequest(run_key=due.key, job_name=job.name, run_config={"ops": {op: {"config": config}}},
                         tags={PLAN_TAG: due.plan_name})  # fmt: skip


@dg.sensor(
    name=SCHEDULES_SENSOR,
    jobs=[dr_backup_job, dr_drill_job],
    minimum_interval_seconds=60,
    default_status=dg.DefaultSensorStatus.RUNNING,
    description="Each plan's backups and drills, on its own cron schedules (UTC): one run per due time.",
)
def dr_schedules(context: dg.SensorEvaluationContext, providers: ProvidersResource) -> dg.SensorResult:
    requested: dict[str, str] = json.loads(context.cursor) if context.cursor else {}
    skipped: list[schedules.Unschedulable] = []
    with providers.sessions() as sessions, sessions() as session:
        due = schedules.due_runs(session, now=providers.clock(), skipped=skipped)
        plans = {str(plan_id) for plan_id in schedules.plan_ids(session)}
    for bad in skipped:
        context.log.error(f"skipped: {bad}")
    requests = []
    for item in due:
        if requested.get(item.slot) == item.due_at.isoformat():
            continue  # asked for already; its run has not started yet
        requests.append(_request(item))
        requested[item.slot] = item.due_at.isoformat()
    kept = {slot: at for slot, at in requested.items() if slot.split(":", 1)[0] in plans}
    context.log.info(f"{len(due)} run(s) due, {len(requests)} requested")
    return dg.SensorResult(run_requests=requests, cursor=json.dumps(kept, sort_keys=True))


@dg.sensor(
    name=HEALTH_SENSOR,
    jobs=[dr_failover_job],
    minimum_interval_seconds=30,
    default_status=dg.DefaultSensorStatus.RUNNING,
    description="Probes the health-check URL of each plan with automatic failover; after its threshold of failures "
    "in a row, raises a critical event for approval or starts a failover run.",
)
def dr_health(context: dg.SensorEvaluationContext, providers: ProvidersResource) -> dg.SensorResult:
    with providers.sessions() as sessions:
        found = watch.probe_plans(sessions, now=providers.clock())
    requests = [
        dg.RunRequest(
            run_key=trigger.key,
            job_name=dr_failover_job.name,
            run_config={"ops": {FAILOVER_OP: {"config": {
                "plan_id": str(trigger.plan_id), "failed_checks": trigger.failed_checks, "seen": trigger.seen,
                "at": trigger.at.isoformat()}}}},
            tags={PLAN_TAG: trigger.plan_name},
        )
        for trigger in found.triggers
        if not trigger.needs_approval
    ]  # fmt: skip
    asked = [t.plan_name for t in found.triggers if t.needs_approval]
    context.log.info(f"{found.checked} plan(s) checked, failing: {found.failing or 'none'}; "
                     f"failovers requested: {len(requests)}; approval asked: {asked or 'none'}")  # fmt: skip
    return dg.SensorResult(run_requests=requests)
