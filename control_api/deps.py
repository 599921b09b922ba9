"""Dependencies shared by the routers: the session, the caller and their role."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Iterator
from typing import Annotated

from fastapi import Depends, Request, Security
from fastapi.security import APIKeyHeader, HTTPAuthorizationCredentials, HTTPBearer
from sqlalchemy.orm import Session

from control_api.errors import ProblemException
from control_api.request_context import MUTATING, build_entry
from control_api.settings import ApiSettings
from control_plane.audit import AuditTrail
from control_plane.crypto import Cipher, SecretKeyError, key_file, load_cipher
from control_plane.security import Role
from control_plane.services.api_keys import Principal
from control_plane.serving import SnapshotReader
from wedcloud.snapshots import SnapshotInfo


def get_session(request: Request) -> Iterator[Session]:
    """One transaction per request: committed after the handler returns, rolled back if it
    raises. A mutating request's audit row is written in the same transaction."""
    with request.app.state.sessions() as session:
        try:
            yield session
        except BaseException:
            session.rollback()
            raise
        if request.method in MUTATING:
            route = request.scope.get("route")
            status = getattr(route, "status_code", None) or 200
            session.add(build_entry(request.scope, status))
        session.commit()
        request.state.audit.written = request.method in MUTATING


SessionDep = Annotated[Session, Depends(get_session, scope="function")]

_api_key_header = APIKeyHeader(
    name="X-API-Key", auto_error=False, description="An API key from `wedcloud keys create`."
)
_bearer = HTTPBearer(auto_error=False, description="The same API key, sent as a bearer token.")


def store_counters(request: Request) -> dict[str, int]:
    """The store's change counters, read once per request (``control_plane.store.changes``): by
    the gate, in a worker thread, when it authenticated the request."""
    counters: dict[str, int] | None = getattr(request.state, "counters", None)
    if counters is None:
        counters = request.state.counters = request.app.state.counters.read()
    return counters


async def current_principal(
    request: Request,
    api_key: Annotated[str | None, Security(_api_key_header)] = None,
    bearer: Annotated[HTTPAuthorizationCredentials | None, Security(_bearer)] = None,
) -> Principal:
    """The caller, as the gate (``control_api.gate``) authenticated them before the body was
    read. The two parameters only describe the key's headers in the OpenAPI document."""
    principal: Principal | None = getattr(request.state, "principal", None)
    if principal is None:  # a route outside the gate's prefix that asks for a caller
        raise ProblemException(
            401,
            "No credentials: send an API key in the X-API-Key header (create one with `wedcloud keys create`).",
            slug="unauthenticated",
            headers={"WWW-Authenticate": 'Bearer realm="wedcloud"'},
        )
    return principal


CurrentPrincipal = Annotated[Principal, Depends(current_principal)]


def require_role(role: Role) -> Callable[[Principal], Awaitable[Principal]]:
    """A dependency that lets through callers whose role is ``role`` or higher."""

    async def check(principal: CurrentPrincipal) -> Principal:
        if not principal.role.allows(role):
            raise ProblemException(
                403,
                f"This action needs the {role.value} role; your key has {principal.role.value}.",
                slug="forbidden",
            )
        return principal

    check.__name__ = f"require_{role.value}"
    return check


RequireViewer = Depends(require_role(Role.VIEWER))
RequireOperator = Depends(require_role(Role.OPERATOR))
RequireAdmin = Depends(require_role(Role.ADMIN))


async def get_audit(request: Request) -> AuditTrail:
    trail: AuditTrail = request.state.audit
    return trail


AuditDep = Annotated[AuditTrail, Depends(get_audit)]


async def get_settings(request: Request) -> ApiSettings:
    settings: ApiSettings = request.app.state.settings
    return settings


SettingsDep = Annotated[ApiSettings, Depends(get_settings)]


async def get_snapshot(request: Request) -> SnapshotInfo | None:
    reader: SnapshotReader = request.app.state.snapshots
    return reader.current()


SnapshotDep = Annotated[SnapshotInfo | None, Depends(get_snapshot)]


async def get_cipher(request: Request) -> Cipher:
    """The deployment's credential cipher (see ``control_plane.crypto``). The key file is read
    again when it changes, so ``wedcloud secrets rotate`` needs no restart."""
    settings: ApiSettings = request.app.state.settings
    path = key_file(settings.layout.root)

    def stamp() -> int | None:
        return path.stat().st_mtime_ns if path is not None and path.exists() else None

    cached: tuple[Cipher, int | None] | None = getattr(request.app.state, "cipher", None)
    if cached is None or cached[1] != stamp():
        try:
            cipher = load_cipher(settings.layout.root, environment=settings.environment)
        except (SecretKeyError, OSError) as exc:
            raise ProblemException(503, f"Credentials cannot be stored or read: {exc}", slug="no-secret-key") from None
        cached = (cipher, stamp())
        request.app.state.cipher = cached
    return cached[0]


CipherDep = Annotated[Cipher, Depends(get_cipher)]
