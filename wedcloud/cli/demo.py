"""``wedcloud demo``: sandbox, warehouse, API and Dagster UI on one machine, from nothing."""

from __future__ import annotations

import os
import shutil
import signal
import sys
import time
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from types import FrameType

import dagster as dg
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from assets.partitions import BillingPartition, billing_source_partitions
from control_plane.crypto import load_cipher
from control_plane.security import Role, key_from_token
from control_plane.services import api_keys, billing, provider_keys, providers, sandbox
from control_plane.store.db import transaction
from pipelines.definitions import build_definitions
from pipelines.instance import write_instance_config
from pipelines.materialize import (
    dagster_instance,
    forget_sources,
    materialize_months,
    months_between,
    register_sources,
    start_schedules,
)
from pipelines.reports import write_latest_reports
from pipelines.settings import PipelineSettings
from wedcloud.cli.context import CliContext, console
from wedcloud.cli.demo_recovery import protect_booking_stack
from wedcloud.cli.demo_stack import deploy_booking_stack
from wedcloud.cli.monitor import prepare_sandbox_monitoring
from wedcloud.cli.processes import Child, PortInUse, ensure_port_free, wait_for_http

HOST = "127.0.0.1"
PROJECT_ROOT = Path(__file__).resolve().parents[2]
# Stopped by default in Dagster; without them the demo's costs, recommendations and snapshot stop
# at the day it was built. The sensors and the report schedules run by default already.
DAILY_SCHEDULES = ("optimisation_inputs_daily", "billing_daily_refresh", "publish_daily")


@dataclass(frozen=True)
class DemoOptions:
    api_port: int
    ui_port: int
    seed: int
    api_key: str | None
    rebuild: bool


def _port(name: str, default: int) -> int:
    raw = os.environ.get(name, str(default))
    if not raw.isdigit() or not 0 < int(raw) < 65536:
        raise SystemExit(f"{name}={raw!r} is not a port number (1-65535)")
    return int(raw)


def options_from_env(seed: int, rebuild: bool) -> DemoOptions:
    return DemoOptions(
        api_port=_port("WEDCLOUD_API_PORT", 8000),
        ui_port=_port("WEDCLOUD_UI_PORT", 3000),
        seed=seed,
        api_key=os.environ.get("WEDCLOUD_API_KEY") or None,
        rebuild=rebuild,
    )


def prepare_sandbox(context: CliContext, *, seed: int, today: date, rebuild: bool) -> tuple[date, date, bool]:
    """The sandbox's world and bills; rebuilt unless today's world with this seed exists.
    Returns the first and last billing days and whether the bills were (re)written."""
    world = sandbox.current_world(context.engine)
    fresh = rebuild or world is None or world.seed != seed or world.as_of != today
    if fresh:
        # a new sandbox has new bills: rows loaded from the previous one must not linger
        context.settings.layout.warehouse.unlink(missing_ok=True)
        lake = PipelineSettings(home=context.settings.layout.root).lake_root
        if not lake.startswith("s3://"):  # a bucket's objects are left to their owner
            shutil.rmtree(Path(lake) / "focus", ignore_errors=True)
        with console.status("creating the sandbox cloud: two years of usage and bills..."):
            world = sandbox.build_sandbox(context.engine, context.settings.layout, seed=seed, as_of=today, months=24)
    assert world is not None
    with transaction(context.sessions) as session:
        sandbox.register_sandbox_providers(session)
        sandbox.register_planted_budgets(session, world)
    console.print(
        f"sandbox: {len(world.resources)} resources in 3 clouds, bills {world.history_start} to "
        f"{world.as_of - timedelta(days=1)} ({'new' if fresh else 'reused'})"
    )
    return world.history_start, world.as_of - timedelta(days=1), fresh


def admin_key(context: CliContext, token: str | None) -> str:
    with transaction(context.sessions) as session:
        if token:
            api_keys.ensure_key(
                session, name="demo-admin (WEDCLOUD_API_KEY)", role=Role.ADMIN, key=key_from_token(token)
            )
            return token
        _, new_token = api_keys.create_key(session, name="demo-admin", role=Role.ADMIN)
        return new_token


def materialize(context: CliContext, first: date, last: date, *, everything: bool) -> list[str]:
    """Load every registered provider's bills for the months from ``first`` to ``last`` (only the
    months not loaded yet unless ``everything``), then publish the serving snapshot, with a
    progress bar. The partitions of providers removed since are dropped first. Returns what
    failed without stopping the rest (a provider's optimisation inputs), one line each."""
    settings = PipelineSettings(
        home=context.settings.layout.root,
        database_url=context.settings.database_url,
        environment=context.settings.environment,
        billing_start=first.replace(day=1),
    )
    defs = build_definitions(settings)
    with transaction(context.sessions) as session:
        cipher = load_cipher(context.settings.layout.root, environment=context.settings.environment)
        names = [source.source_id for source in billing.billing_sources(session, context.settings.layout, cipher)]
        labels = provider_keys.labels(session)
        unreadable = {}  # providers registered for their bills only: nothing to read their inventory with
        for key in names:
            provider = provider_keys.find_provider(session, key)
            if provider is not None and (reason := providers.adapter_unavailable(provider)):
                unreadable[key] = reason
    for reason in unreadable.values():
        console.print(f"skipping the optimisation inputs: {reason}")
    with dagster_instance(context.settings.layout.dagster_home) as instance:
        with transaction(context.sessions) as session:
            known = instance.get_dynamic_partitions(billing_source_partitions.name or "billing_source")
            gone = forget_sources(instance, provider_keys.unregistered(session, known))
        if gone:
            console.print(f"dropped the billing partitions of {len(gone)} removed provider(s): {', '.join(gone)}")
        register_sources(instance, names)
        months = months_between(first, last)
        if not everything:
            done = instance.get_materialized_partitions(dg.AssetKey("cost_daily"))
            wanted = {str(BillingPartition(n, m).key) for n in names for m in months}
            missing = {BillingPartition.parse(k).month for k in wanted - done}
            months = [m for m in months if m in missing or m == months[-1]]
        with Progress(
            TextColumn("[bold]materializing[/]"),
            BarColumn(),
            MofNCompleteColumn(),
            TextColumn("{task.description}"),
            TimeElapsedColumn(),
            console=console,
        ) as progress:
            task = progress.add_task("", total=None)

            def report(step: str, completed: int, total: int) -> None:
                progress.update(task, description=step, completed=completed, total=total)

            inputs_for = [key for key in names if key not in unreadable]
            return materialize_months(defs, instance, months, on_progress=report, labels=labels, inputs_for=inputs_for)


def start_daily_schedules(context: CliContext) -> list[str]:
    """Turn the daily schedules on in the demo's instance (the UI started next runs them); the
    ones started (none when they were running already)."""
    with dagster_instance(context.settings.layout.dagster_home) as instance:
        return start_schedules(instance, DAILY_SCHEDULES)


def _children(context: CliContext, options: DemoOptions, billing_start: date) -> tuple[Child, Child, Child]:
    layout = context.settings.layout
    write_instance_config(layout.dagster_home)  # the UI's runs share the warehouse pool's single slot
    env = {
        **os.environ,
        "WEDCLOUD_HOME": str(layout.root),
        "DAGSTER_HOME": str(layout.dagster_home),
        "PYTHONUNBUFFERED": "1",
        # the UI's partitions begin with the sandbox's history, as the demo's own runs do
        "WEDCLOUD_BILLING_START": billing_start.isoformat(),
    }
    # the demo is a laptop's: a provider may point at a local emulator (docs/outbound.md)
    env.setdefault("WEDCLOUD_OUTBOUND_ALLOW_EMULATORS", "true")
    bin_dir = Path(sys.executable).parent
    serve = ["control_api.asgi:app", "--host", HOST, "--port", str(options.api_port)]
    serve += ["--ws-per-message-deflate", "false"]  # as `wedcloud api`: see docs/monitoring/stream.md
    if context.settings.access_log:  # ours, JSON with the request id, replaces uvicorn's plain lines
        serve.append("--no-access-log")
    api = Child(
        "API",
        [sys.executable, "-m", "uvicorn", *serve],
        env,
        layout.logs / "api.log",
    )
    workspace = PROJECT_ROOT / "workspace.yaml"
    target = ["-w", str(workspace)] if workspace.exists() else ["-m", "pipelines.definitions"]
    ui = Child(
        "Dagster UI",
        [str(bin_dir / "dagster"), "dev", *target, "-h", HOST, "-p", str(options.ui_port)],
        env,
        layout.logs / "dagster.log",
        cwd=PROJECT_ROOT if workspace.exists() else None,
    )
    monitor = Child(
        "monitor",
        [sys.executable, "-m", "wedcloud.cli.main", "monitor"],
        env,
        layout.logs / "monitor.log",
        cwd=PROJECT_ROOT,
    )
    return api, ui, monitor


def run_demo(options: DemoOptions) -> int:
    try:
        ensure_port_free(HOST, options.api_port, "WEDCLOUD_API_PORT")
        ensure_port_free(HOST, options.ui_port, "WEDCLOUD_UI_PORT")
    except PortInUse as exc:
        console.print(f"[red]cannot start the demo:[/] {exc}")
        return 2
    started = time.monotonic()
    context = CliContext()
    context.settings.layout.ensure()
    token = admin_key(context, options.api_key)
    today = datetime.now(UTC).date()
    first, last, fresh = prepare_sandbox(context, seed=options.seed, today=today, rebuild=options.rebuild)
    for failure in materialize(context, first, last, everything=fresh):
        console.print(f"[yellow]warning:[/] {failure}")
    for meta in write_latest_reports(
        PipelineSettings(home=context.settings.layout.root, database_url=context.settings.database_url), today
    ):
        console.print(f"report: {meta['kind']} {meta['start']} to {meta['end']} (GET /api/cloud/costs/reports)")
    if schedules := start_daily_schedules(context):
        console.print(f"started the daily schedules: {', '.join(schedules)}")
    synced = prepare_sandbox_monitoring(context, datetime.now(UTC))
    console.print(f"monitoring: {synced} sandbox resources; one runs hot from 2 to 12 minutes after start")
    with console.status("deploying the wedding booking stack into the sandbox..."):
        console.print(deploy_booking_stack(context, fresh_world=fresh))
    with console.status("protecting it: a disaster-recovery plan, a backup and a drill..."):
        console.print(protect_booking_stack(context))
    api, ui, monitor = _children(context, options, first)
    stopping = False

    def stop(_signum: int, _frame: FrameType | None) -> None:
        nonlocal stopping
        stopping = True

    signal.signal(signal.SIGINT, stop)
    signal.signal(signal.SIGTERM, stop)
    try:
        for child in (api, ui, monitor):
            child.start()
        for child, url in (
            (api, f"http://{HOST}:{options.api_port}/api/healthz"),
            (ui, f"http://{HOST}:{options.ui_port}/server_info"),
        ):
            if not wait_for_http(url, child, timeout=180):
                console.print(f"[red]{child.name} did not start; see {child.log_path}[/]")
                return 1
        console.print(
            f"\n[bold green]WedCloud is running[/] (ready in {time.monotonic() - started:.0f} s)\n"
            f"  API        http://{HOST}:{options.api_port}/api/docs\n"
            f"  Dagster UI http://{HOST}:{options.ui_port}\n"
            f"  metrics    http://{HOST}:{options.api_port}/api/cloud/monitoring/metrics (collected every 30 s)\n"
            f"  admin key  {token}\n\n"
            f'  try: curl -H "X-API-Key: {token}" http://{HOST}:{options.api_port}/api/cloud/costs/overview\n'
            f"  logs in {context.settings.layout.logs}; press Ctrl-C to stop everything",
            soft_wrap=True,
        )
        while not stopping:
            for child in (api, ui, monitor):
                if not child.running():
                    console.print(f"[red]{child.name} stopped unexpectedly; see {child.log_path}[/]")
                    return 1
            time.sleep(0.5)
        return 0
    finally:
        console.print("stopping the monitor, the API and the Dagster UI...")
        for child in (monitor, ui, api):
            child.stop()
