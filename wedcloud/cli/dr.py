"""``wedcloud dr``: disaster recovery from the command line, against the state store directly.

The same service layer as /api/cloud/disaster-recovery, so it works when the API does not (the
day the runbooks are for). Every run is an operation recorded and audited like the API's; the
command waits for it and prints its report.
"""

from __future__ import annotations

import json
import uuid
from typing import Annotated, Any

import typer
from sqlalchemy import select
from sqlalchemy.orm import Session

from clouds.base import CloudProvider
from control_plane.crypto import load_cipher
from control_plane.disaster_recovery import service
from control_plane.disaster_recovery.status import status as plan_statuses
from control_plane.services import operations
from control_plane.services.audit_log import record_change
from control_plane.services.errors import ServiceError
from control_plane.services.providers import adapter_for
from control_plane.store.db import transaction
from control_plane.store.models import Operation, Provider
from control_plane.store.recovery_models import RecoveryPlan, RecoveryRun
from wedcloud.cli.audit import cli_actor
from wedcloud.cli.context import CliContext, console

app = typer.Typer(no_args_is_help=True, help="Disaster recovery: status, backups, drills, failover (and failback).")

PlanOption = Annotated[str, typer.Argument(help="The plan's id or name.")]


def _adapters(context: CliContext) -> Any:
    cipher = load_cipher(context.settings.layout.root, environment=context.settings.environment)

    def adapters(provider: Provider, session: Session) -> CloudProvider:
        return adapter_for(provider, session=session, layout=context.settings.layout, cipher=cipher)

    return adapters


def _plan_id(context: CliContext, plan: str) -> uuid.UUID:
    with context.sessions() as session:
        try:
            found = session.get(RecoveryPlan, uuid.UUID(plan))
        except ValueError:
            found = session.scalar(select(RecoveryPlan).where(RecoveryPlan.name == plan))
        if found is None:
            console.print(f"[red]no plan with the id or name {plan!r}[/]")
            raise typer.Exit(2)
        plan_id: uuid.UUID = found.id
        return plan_id


def _run(context: CliContext, begin: Any, action: str, **kwargs: Any) -> None:
    adapters = _adapters(context)
    try:
        with transaction(context.sessions) as session:
            started = begin(session, actor=cli_actor(), idempotency_key=None, adapter_for=adapters, **kwargs)
            detail = {k: str(v) for k, v in kwargs.items()}
            record_change(session, actor=cli_actor(), action=action, target=f"dr_run:{started.run.id}",
                          detail=detail, command=f"wedcloud dr {action[3:]}")  # fmt: skip
    except ServiceError as exc:
        console.print(f"[red]refused:[/] {exc.detail}")
        raise typer.Exit(2) from None
    console.print(f"operation {started.operation.id}, run {started.run.id}: running...")
    with console.status(f"{action} in progress (each step is on the stream's dr topic)"):
        operations.execute(context.sessions, started.operation.id, started.work)
    with context.sessions() as session:
        run = session.get(RecoveryRun, started.run.id)
        operation = session.get(Operation, started.operation.id)
        assert run is not None
        assert operation is not None
    colour = "green" if run.status == "succeeded" and run.passed is not False else "red"
    console.print(f"[{colour}]{run.status}[/]: {run.report.get('summary') or (run.error or {}).get('detail')}")
    for advice in run.report.get("recommendations") or []:
        console.print(f"  recommendation: {advice['message']}")
    if colour == "red":
        raise typer.Exit(1)


@app.command("status")
def status_command(as_json: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False) -> None:
    """Each plan's readiness, RPO now against its target, last drill and open problems."""
    context = CliContext()
    with context.sessions() as session:
        found = plan_statuses(session)
    if as_json:
        typer.echo(json.dumps(found, indent=2, default=str))
        return
    if not found:
        console.print("no disaster-recovery plans")
    for plan in found:
        rpo, target = plan["rpo"]["current_seconds"], plan["rpo"]["target_seconds"]
        drill = plan["last_drill"] or {}
        now = "none" if rpo is None else f"{rpo / 3600:.1f} h"
        console.print(
            f"{plan['name']}: {plan['readiness']} ({plan['status']}, serving from {plan['serving']['region']}); "
            f"RPO {now} / target {target / 3600:.1f} h; last drill: {drill.get('status', 'never')}, "
            f"RTO {drill.get('rto_seconds')} s, RPO {drill.get('rpo_seconds')} s"
        )
        for problem in plan["problems"]:
            console.print(f"  - {problem}")


@app.command("backup")
def backup_command(plan: PlanOption) -> None:
    """Take a backup now: a snapshot of each data store and its cross-region copy."""
    context = CliContext()
    _run(context, service.begin_backup, "dr.backup", plan_id=_plan_id(context, plan))


@app.command("drill")
def drill_command(
    plan: PlanOption,
    region: Annotated[str | None, typer.Option(help="A DR target region (default: the first).")] = None,
) -> None:
    """Restore the plan into its DR region, measure RTO and RPO, delete it all and prove it."""
    context = CliContext()
    _run(context, service.begin_drill, "dr.drill", plan_id=_plan_id(context, plan), region=region)


@app.command("failover")
def failover_command(
    plan: PlanOption,
    reason: Annotated[str, typer.Option(help="Why (recorded in the run and the audit log).")],
    region: Annotated[str | None, typer.Option(help="Where to (default: the standby; the primary = failback).")] = None,
    dry_run: Annotated[bool, typer.Option(help="Check readiness only; change nothing.")] = False,
    confirm: Annotated[bool, typer.Option(help="Required unless --dry-run: this moves production traffic.")] = False,
) -> None:
    """Move the plan's service (and DNS) to its standby region, or back to the primary."""
    if not (confirm or dry_run):
        console.print("[red]refused:[/] a failover moves production traffic: add --confirm (or --dry-run)")
        raise typer.Exit(2)
    context = CliContext()
    _run(context, service.begin_failover, "dr.failover", plan_id=_plan_id(context, plan), region=region,
         reason=reason, dry_run=dry_run)  # fmt: skip
