"""``wedcloud``: run the demo, manage the state store, API keys and the sandbox cloud."""

from __future__ import annotations

import os
import uuid
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Annotated

import typer

from control_plane.security import Role
from control_plane.services import api_keys, sandbox
from control_plane.store.db import transaction
from control_plane.store.migrate import current_revision, head_revision, upgrade
from wedcloud.cli import audit as audit_cli
from wedcloud.cli import billing as billing_cli
from wedcloud.cli import dr as dr_cli
from wedcloud.cli import focus as focus_cli
from wedcloud.cli.context import CliContext, console
from wedcloud.cli.failures import WedCloudGroup

app = typer.Typer(
    name="wedcloud",
    cls=WedCloudGroup,
    no_args_is_help=True,
    help=(
        "WedCloud: what your clouds cost, what they will cost, and what to change.\n\n"
        "Start with `wedcloud demo` (what `./dev demo` runs): it builds the sandbox cloud, "
        "loads its bills into the warehouse and serves the API and the Dagster UI. "
        "Everything is kept under WEDCLOUD_HOME (default ./.wedcloud)."
    ),
)
db_app = typer.Typer(no_args_is_help=True, help="The state store (SQLite in WEDCLOUD_HOME, or WEDCLOUD_DATABASE_URL).")
keys_app = typer.Typer(no_args_is_help=True, help="API keys: create, list, revoke. Keys are stored hashed.")
sandbox_app = typer.Typer(no_args_is_help=True, help="The embedded sandbox cloud (AWS-, Azure- and GCP-like).")
secrets_app = typer.Typer(no_args_is_help=True, help="The key that encrypts provider credentials at rest.")
app.add_typer(db_app, name="db")
app.add_typer(keys_app, name="keys")
app.add_typer(sandbox_app, name="sandbox")
app.add_typer(secrets_app, name="secrets")
app.add_typer(focus_cli.app, name="focus")
app.add_typer(billing_cli.app, name="billing")
app.add_typer(audit_cli.app, name="audit")
app.add_typer(dr_cli.app, name="dr")


@app.callback()
def root(
    debug: Annotated[
        bool,
        typer.Option(
            "--debug",
            envvar="WEDCLOUD_DEBUG",
            help="Show the full traceback when a command fails (otherwise: one line with the cause and the fix).",
        ),
    ] = False,
) -> None:
    """Options every command takes (give them before the command)."""


@db_app.command("upgrade")
def db_upgrade() -> None:
    """Apply every pending migration (the API and the demo also do this on start)."""
    context = CliContext()
    revision = upgrade(context.engine)
    console.print(f"state store at revision [bold]{revision}[/] ({context.engine.url.render_as_string()})")


@db_app.command("current")
def db_current() -> None:
    """Show the schema revision of the state store and the newest one this code knows."""
    context = CliContext()
    console.print(f"current: {current_revision(context.engine)}   head: {head_revision()}")


@keys_app.command("create")
def keys_create(
    role: Annotated[
        Role, typer.Option(help="viewer reads; operator also acts on resources; admin does everything.")
    ] = Role.VIEWER,
    name: Annotated[str, typer.Option(help="A label to recognise the key by in lists and the audit log.")] = "cli",
) -> None:
    """Create an API key and print it. It is shown once and stored only as a hash."""
    context = CliContext()
    with transaction(context.sessions) as session:
        row, token = api_keys.create_key(session, name=name, role=role, actor=audit_cli.cli_actor())
    console.print(f"created {role.value} key {row.id} ({name}); keep it, it will not be shown again:")
    typer.echo(token)


@keys_app.command("list")
def keys_list() -> None:
    """List API keys (never the keys themselves)."""
    context = CliContext()
    with transaction(context.sessions) as session:
        for row in api_keys.list_keys(session):
            state = "revoked" if row.revoked_at else "active"
            used = row.last_used_at.isoformat() if row.last_used_at else "never"
            typer.echo(f"{row.id}  {row.role:8}  {state:7}  {row.name}  (last used {used})")


@keys_app.command("revoke")
def keys_revoke(key_id: Annotated[uuid.UUID, typer.Argument(help="The id shown by `keys list`.")]) -> None:
    """Revoke an API key; requests with it get 401 from then on."""
    context = CliContext()
    with transaction(context.sessions) as session:
        api_keys.revoke_key(session, key_id=key_id, actor=audit_cli.cli_actor())
    console.print(f"revoked {key_id}")


@secrets_app.command("rotate")
def secrets_rotate(
    new_key: Annotated[
        bool, typer.Option(help="Generate a new key into the key file first (not with WEDCLOUD_SECRET_KEY).")
    ] = False,
    keep_previous: Annotated[
        bool, typer.Option(help="Keep the earlier keys in the key file after re-encrypting.")
    ] = False,
) -> None:
    """Re-encrypt every stored credential under the current key, without downtime.

    With a key file (the default in development): `--new-key` puts a new key first and keeps
    the old one readable, every credential is re-encrypted in one transaction, then the old key
    is dropped; running API processes re-read the file when it changes. With
    WEDCLOUD_SECRET_KEY: set the new key there and the old one in WEDCLOUD_SECRET_KEY_PREVIOUS,
    run this, then remove the old one.
    """
    from control_plane.crypto import Cipher, SecretKeyError, key_file, load_cipher, write_key_file
    from control_plane.services.secrets import reseal_all

    context = CliContext()
    home, environment = context.settings.layout.root, context.settings.environment
    path = key_file(home)
    try:
        cipher = load_cipher(home, environment=environment)
        if new_key:
            if path is None:
                raise SecretKeyError("--new-key writes the key file; with WEDCLOUD_SECRET_KEY, set the new key there")
            cipher = Cipher(os.urandom(32), (cipher.key, *cipher.previous))
            write_key_file(path, cipher)
            console.print(f"new key {cipher.key_id.hex()} written first in {path}; the old one stays readable")
        with transaction(context.sessions) as session:
            done = reseal_all(session, cipher, actor=audit_cli.cli_actor())
    except SecretKeyError as exc:
        console.print(f"[red]{exc}[/]")
        raise typer.Exit(1) from None
    console.print(f"re-encrypted {done.resealed} credential(s); {done.already_current} were already current")
    if path is not None and cipher.previous and not keep_previous:
        write_key_file(path, Cipher(cipher.key))
        console.print(f"dropped {len(cipher.previous)} earlier key(s) from {path}")
    elif cipher.previous:
        console.print("earlier keys are still configured; remove them once every process runs with the new key")


@app.command("reconcile")
def reconcile_command() -> None:
    """Finish provisions a crash interrupted and refresh resources still provisioning, once
    (the API also does this every WEDCLOUD_RECONCILE_EVERY_SECONDS)."""
    from control_plane.services.reconciler import reconcile_once

    context = CliContext()
    done = reconcile_once(context.settings.layout, context.settings.environment, context.sessions)
    console.print(
        f"resumed {len(done.resumed)} operation(s); refreshed {len(done.refreshed)} resource(s); "
        f"marked {len(done.compensated)} left by failed operations"
    )


@sandbox_app.command("create")
def sandbox_create(
    seed: Annotated[int, typer.Option(help="Same seed, same world, same bills.")] = 20260214,
    as_of: Annotated[
        datetime | None, typer.Option(formats=["%Y-%m-%d"], help="The sandbox's today (default: today, UTC).")
    ] = None,
    months: Annotated[int, typer.Option(min=1, max=60, help="Months of history before as-of's month.")] = 24,
) -> None:
    """Create the sandbox world and write its bills under WEDCLOUD_HOME/exports."""
    context = CliContext()
    day = as_of.date() if as_of else datetime.now(UTC).date()
    with console.status("generating two years of usage and writing the bills..."):
        world = sandbox.build_sandbox(context.engine, context.settings.layout, seed=seed, as_of=day, months=months)
    with transaction(context.sessions) as session:
        sandbox.register_sandbox_providers(session)
        sandbox.register_planted_budgets(session, world)
    console.print(
        f"sandbox created: seed {world.seed}, {len(world.resources)} resources, "
        f"history {world.history_start} to {date.fromordinal(world.as_of.toordinal() - 1)}"
    )


@app.command()
def demo(
    seed: Annotated[int, typer.Option(help="Seed of the sandbox world.")] = 20260214,
    rebuild: Annotated[bool, typer.Option(help="Recreate the sandbox and reload everything.")] = False,
) -> None:
    """Build the sandbox, materialize every asset, then serve the API (127.0.0.1:8000) and
    the Dagster UI (127.0.0.1:3000) until Ctrl-C. WEDCLOUD_API_PORT, WEDCLOUD_UI_PORT and
    WEDCLOUD_API_KEY are honoured."""
    from wedcloud.cli.demo import options_from_env, run_demo

    raise typer.Exit(run_demo(options_from_env(seed, rebuild)))


@app.command()
def monitor(
    interval: Annotated[
        float | None,
        typer.Option(min=1, help="Seconds between cycles (default: WEDCLOUD_MONITOR_INTERVAL_SECONDS, or 30)."),
    ] = None,
    once: Annotated[bool, typer.Option("--once", help="Run one cycle and exit.")] = False,
) -> None:
    """Collect every provider's metrics every 30 s into the state store (what `wedcloud demo`
    runs beside the API); one line per cycle; Ctrl-C or SIGTERM stops it after the cycle."""
    from wedcloud.cli.monitor import run_monitor

    raise typer.Exit(run_monitor(interval=interval, once=once))


@app.command()
def materialize(
    first: Annotated[
        datetime | None, typer.Option(formats=["%Y-%m-%d"], help="First day (default: sandbox start).")
    ] = None,
    last: Annotated[datetime | None, typer.Option(formats=["%Y-%m-%d"], help="Last day (default: yesterday).")] = None,
) -> None:
    """Run the billing assets for a range of days in process, then publish a serving snapshot.
    Exits 1 when any run failed, naming it and its error."""
    from pipelines.materialize import MaterializationFailed
    from wedcloud.cli.demo import materialize as run_materialize

    context = CliContext()
    world = sandbox.current_world(context.engine)
    start = first.date() if first else (world.history_start if world else None)
    if start is None:
        raise typer.BadParameter("no sandbox and no --first day given; run `wedcloud sandbox create` first")
    end = last.date() if last else datetime.now(UTC).date() - timedelta(days=1)
    try:
        failures = run_materialize(context, start, end, everything=True)
    except MaterializationFailed as exc:
        failures = [str(exc)]
    for failure in failures:
        console.print(f"[red]failed:[/] {failure}", soft_wrap=True)
    if failures:
        console.print(
            "the runs are in the Dagster UI (`dagster dev -w workspace.yaml`, or `wedcloud demo`); check a source "
            "with `wedcloud billing months NAME`, remove one added by mistake with `wedcloud billing remove NAME`"
        )
        raise typer.Exit(1)


@app.command()
def api(
    host: Annotated[str, typer.Option(envvar="WEDCLOUD_API_HOST")] = "127.0.0.1",
    port: Annotated[int, typer.Option(envvar="WEDCLOUD_API_PORT", min=1, max=65535)] = 8000,
    tls_cert: Annotated[
        Path | None,
        typer.Option(
            envvar="WEDCLOUD_TLS_CERT", exists=True, dir_okay=False, help="PEM certificate (chain) to serve HTTPS."
        ),
    ] = None,
    tls_key: Annotated[
        Path | None,
        typer.Option(envvar="WEDCLOUD_TLS_KEY", exists=True, dir_okay=False, help="PEM private key of --tls-cert."),
    ] = None,
    ws_deflate: Annotated[
        bool,
        typer.Option(
            envvar="WEDCLOUD_API_WS_DEFLATE",
            help="Compress WebSocket frames (permessage-deflate) for clients that offer it: less traffic, "
            "but CPU for every frame of every stream client (docs/monitoring/stream.md).",
        ),
    ] = False,
    workers: Annotated[
        int,
        typer.Option(
            envvar="WEDCLOUD_API_WORKERS",
            min=1,
            help="Worker processes (uvicorn's). More than one needs a PostgreSQL state store "
            "(WEDCLOUD_DATABASE_URL); docs/operations.md says what each worker keeps to itself.",
        ),
    ] = 1,
    worker_timeout: Annotated[
        int,
        typer.Option(
            envvar="WEDCLOUD_API_WORKER_TIMEOUT",
            min=1,
            help="With --workers: seconds a worker may take to start serving (imports, migrations) and to "
            "answer the supervisor's health check before it is restarted (uvicorn's own default, 5, is "
            "shorter than the app's start on a busy machine).",
        ),
    ] = 60,
    proxy_headers: Annotated[
        bool,
        typer.Option(
            envvar="WEDCLOUD_API_PROXY_HEADERS",
            help="Take the client address and scheme from X-Forwarded-For / X-Forwarded-Proto, only when "
            "the connection comes from --forwarded-allow-ips (uvicorn's default: on).",
        ),
    ] = True,
    forwarded_allow_ips: Annotated[
        str | None,
        typer.Option(
            envvar="WEDCLOUD_FORWARDED_ALLOW_IPS",
            help="Comma-separated addresses or networks of the proxies whose X-Forwarded-* headers are "
            "trusted, or * for any (default: uvicorn's, FORWARDED_ALLOW_IPS or 127.0.0.1).",
        ),
    ] = None,
) -> None:
    """Serve the REST API (migrates the state store first); over HTTPS, with HSTS, given
    --tls-cert and --tls-key; with --workers N, in N processes (PostgreSQL only)."""
    import uvicorn

    from control_api.settings import ApiSettings

    if (tls_cert is None) != (tls_key is None):
        raise typer.BadParameter("--tls-cert and --tls-key go together")
    settings = ApiSettings()
    if workers > 1 and settings.resolved_database_url.startswith("sqlite"):
        raise typer.BadParameter(
            f"{workers} workers need a PostgreSQL state store: SQLite lets one process write at a time, and a "
            "request whose transaction reads and then writes fails with 'database is locked' when another "
            "process wrote in between. Set WEDCLOUD_DATABASE_URL to PostgreSQL, or run one worker.",
            param_hint="'--workers'",
        )
    tls = {"ssl_certfile": str(tls_cert), "ssl_keyfile": str(tls_key)} if tls_cert and tls_key else {}
    uvicorn.run(
        "control_api.asgi:create",
        factory=True,  # each worker process builds its own app, engine and caches
        host=host,
        port=port,
        workers=workers,
        timeout_worker_healthcheck=worker_timeout,
        proxy_headers=proxy_headers,
        forwarded_allow_ips=forwarded_allow_ips,
        access_log=not settings.access_log,  # ours (JSON, with the request id) replaces uvicorn's
        ws_per_message_deflate=ws_deflate,
        **tls,  # type: ignore[arg-type]
    )


@app.command()
def serve(
    host: Annotated[str, typer.Option(envvar="WEDCLOUD_UI_HOST", help="Address of the Dagster UI.")] = "127.0.0.1",
    port: Annotated[int, typer.Option(envvar="WEDCLOUD_UI_PORT", min=1, max=65535)] = 3000,
    max_concurrent_runs: Annotated[
        int,
        typer.Option(
            envvar="WEDCLOUD_DAGSTER_MAX_CONCURRENT_RUNS",
            min=1,
            help="Runs the daemon keeps in progress at once (production instance; written when dagster.yaml "
            "has no such setting yet).",
        ),
    ] = 10,
) -> None:
    """Run the Dagster webserver and the Dagster daemon as two processes (not `dagster dev`).

    The instance is DAGSTER_HOME (default WEDCLOUD_HOME/dagster); its dagster.yaml is written
    when missing: run, event-log and schedule storage on PostgreSQL with the run queue when
    WEDCLOUD_DAGSTER_POSTGRES_URL is set, SQLite otherwise; the warehouse pool has one slot.
    SIGINT and SIGTERM go to both; when one exits the other is stopped and this exits 1."""
    from wedcloud.cli.serve import ServeOptions, run_serve

    context = CliContext()
    context.engine  # noqa: B018 - migrates the state store first: the sensors read it from their first tick
    layout = context.settings.layout
    dagster_home = Path(os.environ.get("DAGSTER_HOME") or layout.dagster_home)
    options = ServeOptions(layout.root, dagster_home.resolve(), host, port, max_concurrent_runs)
    raise typer.Exit(run_serve(options))


@app.command()
def worker(
    concurrency: Annotated[
        int, typer.Option(envvar="WEDCLOUD_WORKER_CONCURRENCY", min=1, help="Steps this worker runs at once.")
    ] = 1,
    name: Annotated[str | None, typer.Option(help="Worker name (default: wedcloud-<pid>), shown in run logs.")] = None,
    loglevel: Annotated[str, typer.Option(help="Celery's log level.")] = "INFO",
) -> None:
    """Run a Celery worker for Dagster steps (dagster-celery): it takes the billing job's steps from the
    queue WEDCLOUD_CELERY_QUEUE (default wedcloud) on WEDCLOUD_CELERY_BROKER_URL (default
    amqp://guest:guest@127.0.0.1:5672//), for runs with WEDCLOUD_EXECUTOR=celery. Start as many as
    you like, on this machine or others sharing WEDCLOUD_HOME's warehouse and the Dagster instance."""
    import sys

    from pipelines.celery import queue_name

    layout = CliContext().settings.layout
    os.environ.setdefault("DAGSTER_HOME", str(layout.dagster_home))
    os.environ["WEDCLOUD_HOME"] = str(layout.root)
    argv = [sys.executable, "-m", "celery", "-A", "pipelines.celery", "worker", "-Q", queue_name()]
    argv += ["--prefetch-multiplier=1", "-c", str(concurrency), "-l", loglevel, "-I", "pipelines.definitions"]
    argv += ["-n", f"{name or f'wedcloud-{os.getpid()}'}@%h", "--without-mingle", "--without-gossip"]
    os.execv(sys.executable, argv)  # noqa: S606 - Celery becomes this process: signals reach it directly


def main() -> None:
    app()


if __name__ == "__main__":
    main()
