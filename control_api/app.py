"""The FastAPI application: ``create_app()`` builds it from settings."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import anyio
from fastapi import FastAPI
from sqlalchemy.orm import Session, sessionmaker
from starlette.middleware.cors import CORSMiddleware

from control_api.access_log import configure_access_log
from control_api.docs import install_docs
from control_api.errors import install_problem_handlers
from control_api.gate import Gate, write_refusals
from control_api.limits import RefusalLog
from control_api.logs import configure_logging
from control_api.openapi import document
from control_api.probes import install_probes
from control_api.request_context import RequestContextMiddleware
from control_api.routers import (
    alert_rules,
    alerts,
    audit,
    budgets,
    costs,
    dashboards,
    deployments,
    disaster_recovery,
    forecasts,
    metrics,
    monitoring,
    operations,
    optimisation,
    providers,
    reports,
    resources,
    silences,
    stream,
)
from control_api.settings import ApiSettings
from control_api.stream_hub import StreamHub
from control_api.telemetry import RequestIdOnSpan, install_tracing
from control_api.transport import WedCloudApi
from control_plane.crypto import SecretKeyError, load_cipher
from control_plane.services import webhooks
from control_plane.services.api_keys import Principal
from control_plane.serving import SnapshotReader
from control_plane.store.changes import CounterReader, VersionedCache
from control_plane.store.db import make_engine, make_sessionmaker
from control_plane.store.migrate import upgrade
from wedcloud import __version__

API_PREFIX = "/api/cloud"
OPENAPI_URL = "/api/openapi.json"
log = logging.getLogger(__name__)


def _seal_webhooks(settings: ApiSettings, sessions: sessionmaker[Session]) -> None:
    """Webhook URLs stored plain before revision 0007 are sealed with the credential cipher."""
    try:
        cipher = load_cipher(settings.layout.root, environment=settings.environment)
    except SecretKeyError as exc:
        log.warning("webhook URLs stored plain stay so until a secret key is set: %s", exc)
        return
    with sessions.begin() as session:
        if sealed := webhooks.seal_plain_targets(session, cipher):
            log.info("sealed the webhooks of %d budget(s)", sealed)


DESCRIPTION = """
WedCloud's control plane: register cloud providers, see what they cost, and act on them.

**Authentication**: every endpoint under `/api/cloud` needs an API key, sent as
`X-API-Key: <key>` (or `Authorization: Bearer <key>`). Create one with
`wedcloud keys create --role viewer|operator|admin`. Roles are ordered
viewer < operator < admin; each endpoint says which it needs.

**Errors** are RFC 9457 problem details (`application/problem+json`) with `type`, `title`,
`status`, `detail`, `instance` and a `request_id`; validation errors list each bad field in
`errors`.

**Money** is a decimal string with its ISO 4217 currency; amounts in different currencies are
never added together. Dates are ISO 8601; times are UTC.
"""


def create_app(settings: ApiSettings | None = None) -> FastAPI:
    settings = settings or ApiSettings()
    configure_logging(settings.resolved_log_format)
    configure_access_log(settings.access_log)
    if settings.database_url is None:
        settings.layout.ensure()
    # A request holds its session's connection between the thread hops of its dependencies; with
    # fewer connections than worker threads (anyio's 40), threads waiting for a connection can
    # starve the hops that would give one back. So the pool may grow to more than the threads.
    engine = make_engine(settings.resolved_database_url, pool_size=10, max_overflow=40)
    sessions = make_sessionmaker(engine)
    snapshots = SnapshotReader(settings.layout.serving)
    counters = CounterReader(engine)
    # a key's last-used time is refreshed about once a minute: a cached caller is re-read then
    principals = VersionedCache[Principal](1024, max_age=60)
    refusals = RefusalLog()
    hub = StreamHub(engine, sessions, handshakes_per_minute=settings.rate_limit_per_address)

    @asynccontextmanager
    async def lifespan(_app: FastAPI) -> AsyncIterator[None]:
        await anyio.to_thread.run_sync(upgrade, engine)
        await anyio.to_thread.run_sync(_seal_webhooks, settings, sessions)
        async with anyio.create_task_group() as background:
            if settings.reconcile_every_seconds > 0:
                background.start_soon(_reconcile_forever, settings, sessions)
            background.start_soon(_write_refusals_forever, sessions, refusals)
            await hub.start(background)
            yield
            background.cancel_scope.cancel()
        await hub.stop()
        await write_refusals(sessions, refusals.sweep(float("inf")))  # the minutes still open
        snapshots.close()
        counters.close()
        engine.dispose()
        if tracing is not None:  # export the spans still batched
            await anyio.to_thread.run_sync(tracing.shutdown)

    docs = settings.docs_enabled
    app = WedCloudApi(
        title="WedCloud API",
        version=__version__,
        description=DESCRIPTION,
        openapi_url=OPENAPI_URL if docs else None,
        docs_url=None,  # FastAPI's page loads Swagger UI from a CDN: ours serves it from the package
        redoc_url=None,
        lifespan=lifespan,
    )
    if docs:
        install_docs(app, openapi_url=OPENAPI_URL)
    app.openapi = lambda: document(app)  # type: ignore[method-assign]
    app.state.settings = settings
    app.state.engine = engine
    app.state.sessions = sessions
    app.state.snapshots = snapshots
    app.state.counters = counters
    app.state.principals = principals
    app.state.refusals = refusals
    app.state.stream = hub
    app.state.pages = VersionedCache[bytes](settings.response_cache_entries)
    install_problem_handlers(app)
    # the last added is the outermost: every answer, the gate's too, gets a request id
    app.add_middleware(
        Gate, settings=settings, sessions=sessions, counters=counters, principals=principals, refusals=refusals
    )
    if settings.cors_origins:  # outside the gate: a preflight carries no key
        app.add_middleware(
            CORSMiddleware,
            allow_origins=settings.cors_origins,
            allow_methods=["GET", "POST", "PUT", "PATCH", "DELETE"],
            allow_headers=["X-API-Key", "Authorization", "Content-Type", "Idempotency-Key", "X-Request-ID"],
            expose_headers=["X-Request-ID", "Location", "Retry-After"],
            max_age=600,
        )
    tracing = app.state.tracing = install_tracing(app)  # None unless OTEL_* variables ask for traces
    if tracing is not None:  # inside the request context: the request id is known
        app.add_middleware(RequestIdOnSpan)
    app.add_middleware(RequestContextMiddleware, sessions=sessions)
    for module in (
        providers,
        resources,
        deployments,
        disaster_recovery,
        operations,
        budgets,
        reports,
        costs,
        forecasts,
        optimisation,
        monitoring,
        alert_rules,  # before alerts: /alerts/rules and /alerts/silences are not alert ids
        silences,
        alerts,
        stream,
        metrics,
        dashboards,
        audit,
    ):
        app.include_router(module.router, prefix=API_PREFIX)

    install_probes(app, engine, snapshots)
    return app


async def _write_refusals_forever(sessions: sessionmaker[Session], refusals: RefusalLog) -> None:
    """Every half minute: the audit rows of refusal counts whose minute is over."""
    while True:
        await anyio.sleep(30)
        await write_refusals(sessions, refusals.sweep())


async def _reconcile_forever(settings: ApiSettings, sessions: sessionmaker[Session]) -> None:
    """Every few seconds: finish provisions a crash interrupted, refresh resources still
    provisioning (``services.reconciler.reconcile``). A failed round is logged, never fatal."""
    from control_plane.services.reconciler import reconcile_once

    while True:
        await anyio.sleep(settings.reconcile_every_seconds)
        try:
            await anyio.to_thread.run_sync(reconcile_once, settings.layout, settings.environment, sessions)
        except Exception:
            log.exception("reconciling failed; trying again next round")
