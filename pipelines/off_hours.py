"""The off-hours schedules applied from recommendations, kept in force every 15 minutes."""

import dagster as dg

from assets.resources import ProvidersResource
from control_plane.services.off_hours import enforce_off_hours

CRON = "*/15 * * * *"


@dg.op(
    description=(
        "Stop resources tagged wedcloud:schedule whose off-hours (in their own timezone) have begun, and "
        "start the ones the schedule stopped once they end."
    )
)
def enforce_off_hours_op(context: dg.OpExecutionContext, providers: ProvidersResource) -> None:
    with providers.session() as session:
        done = enforce_off_hours(session, lambda p: providers.adapter_of(p, session), now=providers.clock())
        session.commit()  # the desired states it recorded
    context.log.info(f"stopped {len(done.stopped)}, started {len(done.started)}, errors {len(done.errors)}")
    for target, problem in done.errors.items():
        context.log.warning(f"{target}: {problem}")


@dg.job(description="Keep applied off-hours schedules in force (stop at their start, start at their end).")
def off_hours_job() -> None:
    enforce_off_hours_op()


off_hours_schedule = dg.ScheduleDefinition(
    name="enforce_off_hours",
    job=off_hours_job,
    cron_schedule=CRON,
    execution_timezone="UTC",
    default_status=dg.DefaultScheduleStatus.RUNNING,
    description="Every 15 minutes: applied off-hours schedules stop and start their resources on time.",
)
