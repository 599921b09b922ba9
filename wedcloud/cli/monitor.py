"""``wedcloud monitor``: the collector's loop (``control_plane.monitoring.collector``).

Every ``interval_seconds`` (``--interval``, ``WEDCLOUD_MONITOR_INTERVAL_SECONDS``; 30 by default)
it runs one collection cycle, then the hooks that act on what was collected (alert rules,
notifications), and logs one line. SIGINT or SIGTERM stops it after the cycle in progress.
"""

from __future__ import annotations

import logging
import signal
import threading
import time
from collections.abc import Callable, Sequence
from datetime import datetime
from types import FrameType

import typer
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from clouds.sandbox import live
from clouds.sandbox.world import DEFAULT_WORLD
from control_plane.crypto import cipher_if_available
from control_plane.monitoring import lifecycle, notify, rules
from control_plane.monitoring.collector import CycleReport, run_cycle
from control_plane.monitoring.settings import MonitorSettings
from control_plane.services import inventory
from control_plane.services.providers import adapter_for
from control_plane.store.db import transaction
from control_plane.store.models import Provider
from control_plane.store.monitoring_models import AlertRule
from wedcloud.cli.context import CliContext
from wedcloud.sqltypes import utcnow

log = logging.getLogger("wedcloud.monitor")

# What runs after each collection: (sessions, now, settings, the cycle's report).
Hook = Callable[[sessionmaker[Session], datetime, MonitorSettings, CycleReport], None]


def after_collection(context: CliContext, echo: Callable[[str], None] = typer.echo) -> list[Hook]:
    """The hooks run after each cycle, in order: the alert rules and their lifecycle
    (``lifecycle.evaluate``, with the serving snapshot for the cost rules), then grouping and
    delivery (``notify.notify_round``). A hook that raises is logged; the loop and the other
    hooks go on."""
    layout = context.settings.layout

    def evaluate_rules(sessions: sessionmaker[Session], now: datetime, settings: MonitorSettings,
                       _report: CycleReport) -> None:  # fmt: skip
        for transition in lifecycle.evaluate(sessions, now=now, settings=settings, serving_dir=layout.serving):
            about = transition.labels.get("resource") or transition.labels.get("provider") or ""
            echo(
                f"alert: {transition.rule} {about}: {transition.from_state} -> {transition.to_state}".replace("  ", " ")
            )

    def send_notifications(sessions: sessionmaker[Session], now: datetime, settings: MonitorSettings,
                           _report: CycleReport) -> None:  # fmt: skip
        # without a key, sealed route URLs cannot be opened: each attempt records why
        cipher = cipher_if_available(layout.root, environment=context.settings.environment)
        report = notify.notify_round(sessions, now=now, settings=settings, cipher=cipher)
        if report.notices:
            reasons = ", ".join(reason for _key, reason in report.notices)
            echo(
                f"notify: {len(report.notices)} notice(s) ({reasons}); "
                f"{report.delivered} delivered, {report.failed} failed"
            )

    return [evaluate_rules, send_notifications]


DEMO_RULE = "sandbox: CPU above 90%"


def ensure_demo_rule(session: Session) -> bool:
    """The demo's alert rule (average CPU over a minute above 90% for 2 minutes, on any sandbox
    resource), made once: the planted hot resource takes it pending -> firing -> resolved."""
    if session.scalar(select(AlertRule.id).where(AlertRule.name == DEMO_RULE)) is not None:
        return False
    session.add(
        AlertRule(
            name=DEMO_RULE, kind="threshold", severity="warning", created_by="demo",
            spec={"metric": "cpu", "selector": {"provider": [], "resources": [], "tags": {}}, "aggregation": "avg",
                  "window": 60.0, "comparator": ">", "threshold": 90.0, "for": 120.0, "hold": 60.0},
            labels={"team": "platform"},
            annotations={"summary": "{resource} has run above 90% CPU for 2 minutes ({value})"},
            routes=[], grouping=dict(rules.GROUPING_DEFAULTS), enabled=True,
        )
    )  # fmt: skip
    session.flush()
    return True


def prepare_sandbox_monitoring(context: CliContext, now: datetime) -> int:
    """For the demo: the sandbox providers' inventories synced into the store (what the
    collector reads) and the world's live clock started at ``now``, so its planted CPU spike
    comes two minutes later. Returns the resources synced."""
    synced = 0
    with transaction(context.sessions) as session:
        for provider in session.query(Provider).filter(Provider.kind == "sandbox"):
            adapter = adapter_for(provider, session=session, layout=context.settings.layout)
            report = inventory.sync(
                session, provider, adapter.list_resources(), prices=inventory.catalogue_prices(adapter)
            )
            synced += sum(report["counts"].values())
        ensure_demo_rule(session)
    live.start_live_clock(context.engine, DEFAULT_WORLD, now)
    return synced


def run_monitor(
    *,
    interval: float | None = None,
    once: bool = False,
    context: CliContext | None = None,
    hooks: Sequence[Hook] | None = None,
    clock: Callable[[], datetime] = utcnow,
    echo: Callable[[str], None] = typer.echo,
) -> int:
    """Collect until stopped (or once); returns the exit code."""
    context = context or CliContext()
    settings = MonitorSettings()
    if interval is not None:
        settings = settings.model_copy(update={"interval_seconds": interval})
    hooks = list(after_collection(context, echo) if hooks is None else hooks)
    stop = threading.Event()
    previous = {}
    if threading.current_thread() is threading.main_thread():

        def on_signal(signum: int, _frame: FrameType | None) -> None:
            echo(f"monitor: {signal.Signals(signum).name}, stopping after this cycle")
            stop.set()

        for sig in (signal.SIGINT, signal.SIGTERM):
            previous[sig] = signal.signal(sig, on_signal)
    echo(f"monitor: collecting every {settings.interval_seconds:g} s ({context.engine.url.render_as_string()})")
    try:
        while not stop.is_set():
            began = time.monotonic()
            _round(context, settings, hooks, clock(), echo)
            if once:
                break
            stop.wait(max(0.0, settings.interval_seconds - (time.monotonic() - began)))
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
    echo("monitor: stopped")
    return 0


def _round(
    context: CliContext, settings: MonitorSettings, hooks: Sequence[Hook], now: datetime, echo: Callable[[str], None]
) -> CycleReport:
    """One cycle and the hooks after it; one line logged."""
    report = run_cycle(
        context.sessions,
        now=now,
        settings=settings,
        layout=context.settings.layout,
        environment=context.settings.environment,
    )
    echo(report.line())
    for hook in hooks:
        try:
            hook(context.sessions, now, settings, report)
        except Exception:  # one hook failing must not stop collection or the next hook
            log.exception("monitor hook %s failed", getattr(hook, "__name__", hook))
            echo(f"monitor: hook {getattr(hook, '__name__', hook)} failed; see the log")
    return report
