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
from sqlalchemy.orm import Session, sessionmaker

from clouds.sandbox import live
from clouds.sandbox.world import DEFAULT_WORLD
from control_plane.monitoring.collector import CycleReport, run_cycle
from control_plane.monitoring.settings import MonitorSettings
from control_plane.services import inventory
from control_plane.services.providers import adapter_for
from control_plane.store.db import transaction
from control_plane.store.models import Provider
from wedcloud.cli.context import CliContext
from wedcloud.sqltypes import utcnow

log = logging.getLogger("wedcloud.monitor")

# What runs after each collection: (sessions, now, settings, the cycle's report).
Hook = Callable[[sessionmaker[Session], datetime, MonitorSettings, CycleReport], None]


def after_collection(context: CliContext) -> list[Hook]:
    """The hooks run after each cycle, in order. This is where the alert engine plugs in:
    ``control_plane.monitoring.lifecycle.evaluate(sessions, now=, settings=)`` (rules and the
    alert lifecycle) and then ``control_plane.monitoring.notify.notify_round(sessions, now=,
    settings=, cipher=)`` (grouping and delivery). A hook that raises is logged; the loop and
    the other hooks go on."""
    return []


def prepare_sandbox_monitoring(context: CliContext, now: datetime) -> int:
    """For the demo: the sandbox providers' inventories synced into the store (what the
    collector reads) and the world's live clock started at ``now``, so its planted CPU spike
    comes two minutes later. Returns the resources synced."""
    synced = 0
    with transaction(context.sessions) as session:
        for provider in session.query(Provider).filter(Provider.kind == "sandbox"):
            adapter = adapter_for(provider, session=session, layout=context.settings.layout)
            report = inventory.sync(session, provider, adapter.list_resources())
            synced += sum(report["counts"].values())
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
    hooks = list(after_collection(context) if hooks is None else hooks)
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
