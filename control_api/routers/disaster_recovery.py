"""Disaster recovery: /api/cloud/disaster-recovery. Plans (what to protect, where to recover it,
the RTO and RPO targets), and the runs that act on them: an on-demand backup, a drill, a
failover and a restore, each an operation to poll (202). Reads come from the state store
(``control_plane.disaster_recovery.queries``; the standing of each plan from ``status``).

Roles: viewers read, operators write plans, back up, drill, restore into new resources and dry
run a failover. A plan that fails over automatically without approval needs admin to write
(``_may_write``: its failover moves traffic with nobody approving). A failover and a restore in
place need admin and ``"confirm": true``: the body decides, so a dependency reads it
(``failover_request``, ``restore_request``) and refuses before the handler runs, as the route's
own role dependency does."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Annotated, Any

from fastapi import APIRouter, Body, Depends, Header, Query, Response

from control_api.deps import CurrentPrincipal, RequireOperator, RequireViewer, SessionDep
from control_api.errors import ProblemException
from control_api.routers.operations import IDEMPOTENCY_KEY, Acting, ActingDep
from control_api.schemas.disaster_recovery import (
    PLAN,
    RESOURCE,
    BackupIn,
    BackupOut,
    BackupState,
    DrillIn,
    FailoverIn,
    PlanState,
    RecoveryPlanDetail,
    RecoveryPlanOut,
    RecoveryStatusOut,
    RestoreIn,
    RunAccepted,
    RunDetail,
    RunKind,
    RunOut,
    RunState,
)
from control_plane.disaster_recovery import plans, queries, service
from control_plane.disaster_recovery import status as standing
from control_plane.disaster_recovery.spec import EXAMPLE, PlanSpec
from control_plane.pagination import DEFAULT_LIMIT, MAX_LIMIT, Page
from control_plane.security import Role
from control_plane.services.api_keys import Principal
from control_plane.services.errors import InvalidRequest, NotFound

PREFIX = "/disaster-recovery"
router = APIRouter(prefix=PREFIX, tags=["disaster-recovery"], dependencies=[RequireViewer])

_PLAN_NOT_FOUND: dict[int | str, dict[str, Any]] = {404: {"description": "No plan with this id."}}
_BAD_PLAN: dict[int | str, dict[str, Any]] = {
    409: {"description": "Another plan has this name; or (PUT) `If-Match` names an older revision, a failover "
                         "of the plan is running, or it serves from a DR target and its primary would move."},
    422: {"description": "The plan cannot work: `errors` lists each problem with `pointer`, a JSON pointer into "
                         "the body (/rpo_seconds, /primary_region, /dr_targets/0/region, /protected, "
                         "/backup/schedule, /routing/targets, /routing/targets/<region> for an address no "
                         "user can be sent to, /routing/health_check_url for an address the server does not "
                         "probe)."},
}  # fmt: skip
UNATTENDED = "A plan that fails over automatically without approval (auto_failover.enabled, require_approval false)"
_UNATTENDED_403 = (
    "A viewer cannot write plans; a plan that fails over automatically without approval "
    "(`auto_failover.enabled` with `require_approval: false`) needs admin, since its failover "
    "writes the plan's routing into DNS with no admin approving it."
)
_ETAG = {"ETag": {"description": 'The plan\'s revision, quoted ("3"): send it back as If-Match.',
                  "schema": {"type": "string"}}}  # fmt: skip
_STARTED: dict[int | str, dict[str, Any]] = {
    404: {"description": "The plan (or resource) the body names does not exist; `errors` points at its field."},
    409: {"description": "Another run of this plan is in flight, or the Idempotency-Key was used by another key."},
}
_MINIMAL = {"name": "booking-db", "primary_provider_id": EXAMPLE["primary_provider_id"], "primary_region": "eu-west-2",
            "dr_targets": [{"region": "eu-west-1"}], "protected": {"resource_ids": [RESOURCE]}, "rto_seconds": 7200,
            "rpo_seconds": 86400}  # fmt: skip
PlanBody = Annotated[PlanSpec, Body(openapi_examples={
    "booking": {"summary": "A stack by tag, with DNS failover and weekly drills", "value": EXAMPLE},
    "minimal": {"summary": "One database, the defaults otherwise (a backup every 4 hours)", "value": _MINIMAL},
})]  # fmt: skip
IF_MATCH = Annotated[
    str | None,
    Header(
        alias="If-Match",
        pattern=r'^(\*|"[0-9]{1,9}"|[0-9]{1,9})$',
        description='The revision this change was made from ("3", as the ETag gave it): another revision is a '
        "409 and nothing changes. Absent or `*`: whatever the current revision.",
    ),
]
Limit = Annotated[int, Query(ge=1, le=MAX_LIMIT)]
Cursor = Annotated[str | None, Query(max_length=512, description="`next_cursor` of the previous page.")]


def _etag(revision: int) -> str:
    return f'"{revision}"'


@contextmanager
def _named_at(pointer: str) -> Iterator[None]:
    """A NotFound raised inside is about the id the body gives at ``pointer``: the problem says so."""
    try:
        yield
    except NotFound as exc:
        if "errors" in exc.extra:
            raise
        raise NotFound(exc.detail, errors=[{"pointer": pointer, "message": exc.detail}]) from None


def _needs_admin(principal: Principal, what: str, hint: str = "") -> None:
    if not principal.role.allows(Role.ADMIN):
        raise ProblemException(403, f"{what} needs the admin role; your key has {principal.role.value}.{hint}",
                               slug="forbidden")  # fmt: skip


def _may_write(spec: PlanSpec, acting: Acting, target: str | None = None) -> None:
    """A plan whose health checks fail it over with no approval moves production traffic to its
    routing (DNS values, health URL) with no admin in the loop, so only an admin may create it or
    replace any part of it: the rule is on the plan as it would be, so an operator may turn
    approval on, never off, and may not touch the routing while it is off. The audit row says the
    change was privileged (or refused, before anything is written)."""
    if not spec.unattended_failover:
        return
    acting.audit.record(target=target, privileged="auto_failover without approval")
    _needs_admin(acting.principal, UNATTENDED, ' Keep "require_approval": true to have an admin approve each failover.')


def _may_reroute(spec: PlanSpec, before: dict[str, Any], acting: Acting, target: str) -> None:
    """The routing an admin's failover writes into DNS (zone, record, values, health URL) is not
    the operator's to change under it: changing a plan's routing needs admin. A new plan's routing
    is the operator's, and the admin who confirms its failover sees it (``GET /plans/{id}``, and the
    dry run names the record and the value it would write)."""
    after = spec.routing.model_dump(mode="json") if spec.routing is not None else None
    if after == before.get("routing"):
        return
    acting.audit.record(target=target, privileged="routing changed")
    _needs_admin(acting.principal, "Changing a plan's routing (the DNS a failover writes)")


def _confirmed(confirm: bool, why: str) -> None:
    if confirm is not True:
        message = f'{why}: send "confirm": true to show it is meant'
        raise InvalidRequest(message, errors=[{"pointer": "/confirm", "message": message}])


async def failover_request(
    body: Annotated[FailoverIn, Body(openapi_examples={
        "failover": {"summary": "Fail over to the standby (admin)", "value": {
            "plan_id": PLAN, "reason": "eu-west-2 is down (AWS Health event)", "confirm": True}},
        "dry_run": {"summary": "Only check readiness (operator)", "value": {
            "plan_id": PLAN, "reason": "rehearsal before the wedding season", "dry_run": True}},
        "failback": {"summary": "Back to the primary", "value": {
            "plan_id": PLAN, "reason": "eu-west-2 is healthy again", "region": "eu-west-2", "confirm": True}},
    })],
    principal: CurrentPrincipal,
) -> FailoverIn:  # fmt: skip
    """The failover's body, once its role and confirmation are right: a dry run changes nothing and
    needs operator (the route's own check); a real one needs admin and ``confirm``."""
    if not body.dry_run:
        _needs_admin(principal, "A failover (other than a dry run)")
        _confirmed(body.confirm, "a failover moves production traffic (or send dry_run: true to only check)")
    return body


async def restore_request(
    body: Annotated[RestoreIn, Body(openapi_examples={
        "plan": {"summary": "Every data store of a plan, from the newest backups, into new resources",
                 "value": {"plan_id": PLAN}},
        "point_in_time": {"summary": "One database as it was at a time, under a name of its own", "value": {
            "resource_id": RESOURCE, "point_in_time": "2026-11-27T03:00:00Z",
            "name": "booking-db-audit"}},
        "replace": {"summary": "In place of the old one (admin)", "value": {
            "resource_id": RESOURCE, "mode": "replace", "confirm": True}},
    })],
    principal: CurrentPrincipal,
) -> RestoreIn:  # fmt: skip
    """The restore's body, once its role and confirmation are right: into new resources, operator
    (the route's own check); in place of the old ones, admin and ``confirm``."""
    if body.mode == "replace":
        _needs_admin(principal, "A restore in place (mode replace)")
        _confirmed(body.confirm, "a restore in place terminates the resources it replaces")
    return body


def _accepted(acting: Any, started: service.Started, *, action: str) -> dict[str, Any]:
    """202: the run's operation (its work runs after the answer, unless this is a replay)."""
    if started.created and started.work is not None:
        acting.start(started.operation, started.work)
    run = started.run
    target = f"dr_plan:{run.plan_id}" if run.plan_id else f"resource:{run.request.get('resource_id')}"
    acting.audit.record(target=target, action=action, run=str(run.id), operation=str(started.operation.id),
                        request=run.request, replayed=not started.created)  # fmt: skip
    return {**acting.accepted(started.operation), "run_id": run.id, "plan_id": run.plan_id}


# -- plans -----------------------------------------------------------------------------------------
@router.post(
    "/plans",
    status_code=201,
    response_model=RecoveryPlanOut,
    dependencies=[RequireOperator],
    summary="Create a disaster-recovery plan",
    operation_id="create_dr_plan",
    responses={201: {"headers": {"Location": {"description": "The plan's URL.", "schema": {"type": "string"}},
                                 **_ETAG}}, 403: {"description": _UNATTENDED_403}, **_BAD_PLAN},
)  # fmt: skip
def create_plan(body: PlanBody, acting: ActingDep) -> Any:
    """Checked whole before anything is written: the provider and its regions, DR targets that differ
    from the primary, a selection that matches at least one live resource, DNS targets for the
    primary and the first DR target. Nothing runs until a backup, a drill or a failover is asked for
    (or the schedules start them). Operator; a plan whose automatic failover needs no approval
    (`auto_failover.enabled`, `require_approval: false`): admin, else 403."""
    _may_write(body, acting)
    plan = plans.create_plan(acting.session, spec=body, actor=acting.principal.actor, adapter_for=acting.adapter_for)
    view = plans.plan_view(plan)
    acting.audit.record(target=f"dr_plan:{plan.id}", action="create", after={"name": plan.name, "revision": 1})
    acting.response.headers["Location"] = f"/api/cloud{PREFIX}/plans/{plan.id}"
    acting.response.headers["ETag"] = _etag(plan.revision)
    return view


@router.get(
    "/plans", response_model=Page[RecoveryPlanOut], summary="List plans, newest first", operation_id="list_dr_plans"
)
def list_plans(
    session: SessionDep,
    status: Annotated[PlanState | None, Query(description="Only plans in this state.")] = None,
    limit: Limit = DEFAULT_LIMIT,
    cursor: Cursor = None,
) -> Any:
    page = plans.list_plans(session, status=status, limit=limit, cursor=cursor)
    return {"items": page.items, "next_cursor": page.next_cursor}


@router.get(
    "/plans/{plan_id}",
    response_model=RecoveryPlanDetail,
    summary="A plan, its standing (readiness, RPO now, last drill, problems) and its last runs",
    operation_id="get_dr_plan",
    responses={200: {"headers": _ETAG}, **_PLAN_NOT_FOUND},
)
def get_plan(plan_id: uuid.UUID, session: SessionDep, response: Response) -> Any:
    detail = queries.plan_detail(session, plan_id)
    response.headers["ETag"] = _etag(detail["revision"])
    return detail


@router.put(
    "/plans/{plan_id}",
    response_model=RecoveryPlanOut,
    dependencies=[RequireOperator],
    summary="Replace a plan (the whole body; If-Match for a safe change)",
    operation_id="replace_dr_plan",
    responses={200: {"headers": _ETAG}, 403: {"description": _UNATTENDED_403}, **_PLAN_NOT_FOUND, **_BAD_PLAN},
)
def replace_plan(plan_id: uuid.UUID, body: PlanBody, acting: ActingDep, if_match: IF_MATCH = None) -> Any:
    """The body is a whole plan, checked as on create. With `If-Match: "<revision>"` the change is
    made only if nobody changed the plan since that revision (else 409). Moving the primary of a
    plan that serves from a DR target is refused: fail back first. Operator; admin when the plan
    as replaced fails over automatically without approval (so an operator cannot turn approval
    off, nor change anything, its routing included, while it is off): else 403."""
    _may_write(body, acting, target=f"dr_plan:{plan_id}")
    expected = None if if_match in (None, "*") else int(str(if_match).strip('"'))
    before = plans.plan_view(plans.get_plan(acting.session, plan_id))
    _may_reroute(body, before, acting, target=f"dr_plan:{plan_id}")
    plan = plans.update_plan(acting.session, plan_id=plan_id, spec=body, adapter_for=acting.adapter_for,
                             expected_revision=expected)  # fmt: skip
    after = plans.plan_view(plan)
    changed = sorted(k for k in PlanSpec.model_fields if before.get(k) != after.get(k))
    acting.audit.record(target=f"dr_plan:{plan.id}", action="replace", changed=changed,
                        before={"revision": before["revision"]}, after={"revision": plan.revision})  # fmt: skip
    acting.response.headers["ETag"] = _etag(plan.revision)
    return after


@router.get(
    "/plans/{plan_id}/backups",
    response_model=Page[BackupOut],
    summary="A plan's backups, newest first: each snapshot, its cross-region copies and when each was whole",
    operation_id="list_dr_plan_backups",
    responses=_PLAN_NOT_FOUND,
)
def list_backups(
    plan_id: uuid.UUID,
    session: SessionDep,
    status: Annotated[BackupState | None, Query(description="Only backups in this state.")] = None,
    limit: Limit = DEFAULT_LIMIT,
    cursor: Cursor = None,
) -> Any:
    page = queries.list_backups(session, plan_id=plan_id, status=status, limit=limit, cursor=cursor)
    return {"items": page.items, "next_cursor": page.next_cursor}


# -- runs ------------------------------------------------------------------------------------------
@router.post(
    "/backup",
    status_code=202,
    response_model=RunAccepted,
    dependencies=[RequireOperator],
    summary="Back a plan up now: snapshot each protected data store and copy it to the standby region",
    operation_id="start_dr_backup",
    responses=_STARTED,
)
def backup(body: BackupIn, acting: ActingDep, idempotency_key: IDEMPOTENCY_KEY = None) -> Any:
    """The same as a scheduled backup: retention is applied afterwards. Its report lists each backup
    and the plan's RPO once it ends."""
    with _named_at("/plan_id"):
        started = service.begin_backup(acting.session, plan_id=body.plan_id, actor=acting.principal.actor,
                                       idempotency_key=idempotency_key, adapter_for=acting.adapter_for)  # fmt: skip
    return _accepted(acting, started, action="backup")


@router.post(
    "/test",
    status_code=202,
    response_model=RunAccepted,
    dependencies=[RequireOperator],
    summary="Drill a plan: restore into the DR region, measure RTO and RPO, delete it all, prove it by listing",
    operation_id="start_dr_drill",
    responses=_STARTED,
)
def drill(body: DrillIn, acting: ActingDep, idempotency_key: IDEMPOTENCY_KEY = None) -> Any:
    """The copies carry `wedcloud:drill=<run id>` and names of their own; a drill never touches DNS
    or production. The run's report has each step with its time, the measured RTO and RPO against
    the targets, pass or fail, the listing that proves nothing is left, and priced advice."""
    with _named_at("/plan_id"):
        started = service.begin_drill(acting.session, plan_id=body.plan_id, region=body.region,
                                      actor=acting.principal.actor, idempotency_key=idempotency_key,
                                      adapter_for=acting.adapter_for)  # fmt: skip
    return _accepted(acting, started, action="drill")


@router.post(
    "/failover",
    status_code=202,
    response_model=RunAccepted,
    dependencies=[RequireOperator],
    summary='Fail a plan over (admin, "confirm": true); a dry run only checks readiness (operator)',
    operation_id="start_dr_failover",
    responses={
        **_STARTED,
        403: {"description": "A failover needs admin (a dry run: operator); a viewer can do neither."},
        422: {"description": 'A field is invalid, or "confirm": true is missing from a failover that is not a dry '
                             "run (`errors` points at /confirm); a region the plan does not name (/region)."},
    },
)  # fmt: skip
def failover(
    body: Annotated[FailoverIn, Depends(failover_request)], acting: ActingDep, idempotency_key: IDEMPOTENCY_KEY = None
) -> Any:
    """Readiness (a backup within the RPO with a copy there, the sizes on offer), restore in the
    target region, wait until healthy, switch DNS, verify. A failed step rolls back (DNS back, the
    copies deleted) unless the region left is down too: then it stays and raises an alert. To fail
    back, fail over to the primary region."""
    with _named_at("/plan_id"):
        started = service.begin_failover(acting.session, plan_id=body.plan_id, region=body.region,
                                         reason=body.reason, dry_run=body.dry_run, actor=acting.principal.actor,
                                         idempotency_key=idempotency_key, adapter_for=acting.adapter_for)  # fmt: skip
    return _accepted(acting, started, action="failover_dry_run" if body.dry_run else "failover")


@router.post(
    "/restore",
    status_code=202,
    response_model=RunAccepted,
    dependencies=[RequireOperator],
    summary="Restore a plan's data stores or one resource from a backup or point in time (in place: admin)",
    operation_id="start_dr_restore",
    responses={
        **_STARTED,
        403: {"description": "A restore in place (mode replace) needs admin."},
        422: {"description": "A field is invalid: both or neither of plan_id and resource_id, both backup_id and "
                             "point_in_time, no backup that fits (/backup_id, /point_in_time, /resource_id), no "
                             "copy in /region, or mode replace without \"confirm\": true (/confirm)."},
    },
)  # fmt: skip
def restore(
    body: Annotated[RestoreIn, Depends(restore_request)], acting: ActingDep, idempotency_key: IDEMPOTENCY_KEY = None
) -> Any:
    """New resources carry the old ones' tags and `wedcloud:restore=<run id>` and join the
    inventory. In place, once the new ones are ready, each old one is snapshotted (kept) and
    terminated. A failed restore deletes what it made and leaves the old resources alone."""
    request = body.model_dump(mode="json", exclude={"confirm"})
    with _named_at("/plan_id" if body.plan_id else "/resource_id"):
        started = service.begin_restore(acting.session, request=request, actor=acting.principal.actor,
                                        idempotency_key=idempotency_key, adapter_for=acting.adapter_for)  # fmt: skip
    return _accepted(acting, started, action=f"restore_{body.mode}")


# -- status and the journal ------------------------------------------------------------------------
@router.get(
    "/status",
    response_model=RecoveryStatusOut,
    summary="Every plan's standing: readiness, the last backup and the RPO now, the last drill's RTO and RPO",
    operation_id="get_dr_status",
    responses={404: {"description": "`plan_id` names no plan."}},
)
def get_status(
    session: SessionDep, plan_id: Annotated[uuid.UUID | None, Query(description="Only this plan.")] = None
) -> Any:
    """Read from the state store: no cloud is called. The RPO now is the age of the newest
    cross-region copy of the protected data store whose newest copy is oldest."""
    if plan_id is not None:
        plans.get_plan(session, plan_id)
    return {"plans": standing.status(session, plan_id=plan_id)}


@router.get("/runs", response_model=Page[RunOut], summary="List runs (backups, drills, failovers, restores), newest "
            "first", operation_id="list_dr_runs")  # fmt: skip
def list_runs(
    session: SessionDep,
    plan_id: Annotated[uuid.UUID | None, Query(description="Only this plan's runs.")] = None,
    kind: Annotated[RunKind | None, Query(description="Only runs of this kind.")] = None,
    status: Annotated[RunState | None, Query(description="Only runs in this state.")] = None,
    limit: Limit = DEFAULT_LIMIT,
    cursor: Cursor = None,
) -> Any:
    page = queries.list_runs(session, plan_id=plan_id, kind=kind, status=status, limit=limit, cursor=cursor)
    return {"items": page.items, "next_cursor": page.next_cursor}


@router.get(
    "/runs/{run_id}",
    response_model=RunDetail,
    summary="A run: its steps in order with their times (live while it runs) and its report",
    operation_id="get_dr_run",
    responses={404: {"description": "No run with this id."}},
)
def get_run(run_id: uuid.UUID, session: SessionDep) -> Any:
    return queries.run_view(session, run_id)
