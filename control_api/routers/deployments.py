"""Deployments: /api/cloud/deployments. A template and its parameters, planned with a price and
applied in dependency order by an operation to poll (202); reads come from the state store and,
for billed costs, the serving snapshot. ``/validate`` and ``/schema`` are registered before
``/{deployment_id}`` so that neither is taken for an id."""

from __future__ import annotations

import uuid
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Body, Query, Request
from fastapi.responses import JSONResponse

from control_api.deps import RequireAdmin, RequireOperator, RequireViewer, SessionDep, SnapshotDep
from control_api.errors import ProblemException
from control_api.provider_filter import PROVIDER_FILTER, provider_ids
from control_api.routers.operations import IDEMPOTENCY_KEY, Acting, ActingDep
from control_api.schemas.deployments import (
    EXAMPLE_TEMPLATE,
    EXAMPLE_YAML,
    DeploymentAccepted,
    DeploymentDetail,
    DeploymentIn,
    DeploymentOut,
    DeploymentState,
    DeploymentStatus,
    DeploymentUpdate,
    LogPage,
    PlanAnswer,
    RollbackIn,
    ValidateIn,
    ValidationOut,
)
from control_plane.deployments import drift, queries, validation
from control_plane.deployments import service as deployments
from control_plane.deployments import template as templates
from control_plane.pagination import DEFAULT_LIMIT, MAX_LIMIT, Page
from control_plane.services.errors import InvalidRequest

router = APIRouter(prefix="/deployments", tags=["deployments"], dependencies=[RequireViewer])

_NOT_FOUND: dict[int | str, dict[str, Any]] = {404: {"description": "No deployment with this id."}}
_BAD_TEMPLATE: dict[int | str, dict[str, Any]] = {
    422: {
        "description": "The template or its parameters cannot work: `errors` lists each problem with `pointer`, "
        "a JSON pointer into the request body (/template/resources/db/size, /parameters/env)."
    }
}
_BUSY: dict[int | str, dict[str, Any]] = {
    409: {"description": "Another apply of this deployment is running, or the name is taken."}
}
_UPSTREAM: dict[int | str, dict[str, Any]] = {502: {"description": "A provider failed or refused the credentials."}}
_PLANNED: dict[int | str, dict[str, Any]] = {
    200: {"model": PlanAnswer, "description": "`plan_only=true` (or nothing to change): the plan; nothing applied."},
    202: {"model": DeploymentAccepted, "description": "The apply's operation (poll it), with its plan."},
}
PLAN_ONLY = Annotated[
    bool, Query(description="Answer the plan (200) and apply nothing: no deployment, version or operation is written.")
]
CreateBody = Annotated[DeploymentIn, Body(openapi_examples={
    "object": {"summary": "The booking stack, as JSON", "value": {"name": "booking-prod", "template": EXAMPLE_TEMPLATE,
                                                                   "parameters": {"env": "prod", "web_count": 3}}},
    "yaml": {"summary": "A template as YAML text", "value": {"name": "files-staging", "template": EXAMPLE_YAML,
                                                              "on_failure": "pause"}}})]  # fmt: skip


def _answer(acting: Acting, started: Any, *, name: str, action: str, plan_only: bool = False) -> Any:
    """A write's answer: 202 with the operation, its version and plan; or, when nothing is to be
    applied (plan only, or nothing to change), 200 with the plan, whatever planning touched rolled
    back when only the plan was asked for."""
    deployment = started.deployment
    deployment_id = getattr(deployment, "id", None)
    if plan_only or started.operation is None:
        answer = PlanAnswer(
            plan_only=plan_only, deployment_id=deployment_id, name=getattr(deployment, "name", name), plan=started.plan
        ).model_dump(mode="json")
        if plan_only:
            acting.session.rollback()
        acting.audit.record(target=f"deployment:{deployment_id}" if deployment_id else None, action=action,
                            plan_only=plan_only, plan=started.plan.get("summary"))  # fmt: skip
        return JSONResponse(answer, status_code=200)
    if started.created and started.work is not None:
        acting.start(started.operation, started.work)
    version = started.version.number if started.version is not None else None
    acting.audit.record(
        target=f"deployment:{deployment_id}", action=action, version=version, operation=str(started.operation.id),
        plan=started.plan.get("summary"), replayed=not started.created,
    )  # fmt: skip
    return {**acting.accepted(started.operation), "deployment_id": deployment_id, "version": version,
            "plan": started.plan}  # fmt: skip


# -- the schema and validation (before /{deployment_id}) ------------------------------------------
@router.get(
    "/schema",
    response_model=dict[str, Any],
    summary="The JSON Schema (draft 2020-12) of a deployment template",
    operation_id="get_deployment_template_schema",
    # a short example: the schema itself holds $refs into its $defs, which OpenAPI tools would
    # try to resolve against the OpenAPI document
    responses={200: {"content": {"application/json": {"example": {
        "$schema": "https://json-schema.org/draft/2020-12/schema", "title": "WedCloud deployment template",
        "type": "object", "required": ["resources"],
        "properties": {"parameters": {"type": "object"}, "resources": {"type": "object"},
                       "outputs": {"type": "object"}},
    }}}}},
)  # fmt: skip
def template_schema() -> Any:
    return templates.SCHEMA


@router.post(
    "/validate",
    response_model=ValidationOut,
    dependencies=[RequireOperator],
    summary="Check a template without side effects: each resource's monthly estimate, and the diff given a deployment",
    operation_id="validate_deployment",
    responses={**_NOT_FOUND, **_BAD_TEMPLATE, **_UPSTREAM},
)
def validate(body: ValidateIn, acting: ActingDep) -> Any:
    result = validation.validate(
        acting.session, template=body.template, parameters=body.parameters, deployment_id=body.deployment_id,
        adapter_for=acting.adapter_for, name=body.name,
    )  # fmt: skip
    acting.session.rollback()  # no side effects, whatever a check touched
    if not result.get("valid", False):
        problems = result.get("problems") or []
        raise InvalidRequest(
            f"the template has {len(problems)} problem(s); `errors` gives each one's JSON pointer",
            errors=problems, warnings=result.get("warnings") or [],
        )  # fmt: skip
    return result


def _only(methods: str, path: str) -> None:
    raise ProblemException(405, f"Only {methods} is allowed at {path}.", slug="method-not-allowed",
                           headers={"Allow": methods})  # fmt: skip


@router.api_route("/validate", methods=["GET", "PUT", "PATCH", "DELETE", "HEAD", "OPTIONS"], include_in_schema=False)
def validate_other_methods() -> None:
    """Without this, GET /deployments/validate would reach /{deployment_id} and answer 422."""
    _only("POST", "/deployments/validate")


@router.api_route("/schema", methods=["POST", "PUT", "PATCH", "DELETE", "HEAD", "OPTIONS"], include_in_schema=False)
def schema_other_methods() -> None:
    _only("GET", "/deployments/schema")


# -- the collection ------------------------------------------------------------------------------
@router.post(
    "",
    status_code=202,
    response_model=DeploymentAccepted,
    dependencies=[RequireOperator],
    summary="Create a deployment from a template and parameters (202: its apply; plan_only: the plan)",
    operation_id="create_deployment",
    responses={
        **_PLANNED,
        **_BUSY,
        **_BAD_TEMPLATE,
        **_UPSTREAM,
        404: {"description": "A provider the template names is unknown."},
    },
)
def create(
    body: CreateBody, acting: ActingDep, plan_only: PLAN_ONLY = False, idempotency_key: IDEMPOTENCY_KEY = None
) -> Any:
    started = deployments.begin_create(
        acting.session, name=body.name, template=body.template, parameters=body.parameters,
        on_failure=body.on_failure, actor=acting.principal.actor, idempotency_key=idempotency_key,
        adapter_for=acting.adapter_for, plan_only=plan_only,
    )  # fmt: skip
    return _answer(acting, started, name=body.name, action="create", plan_only=plan_only)


@router.get(
    "",
    response_model=Page[DeploymentOut],
    summary="List deployments, newest first",
    operation_id="list_deployments",
)
def list_deployments(
    session: SessionDep,
    status: Annotated[DeploymentState | None, Query(description="Only deployments in this state.")] = None,
    provider: Annotated[
        str | None, Query(max_length=512, description=f"Only deployments with resources there. {PROVIDER_FILTER}")
    ] = None,
    environment: Annotated[
        str | None, Query(max_length=64, description="The environment its template rendered (its `env` parameter).")
    ] = None,
    limit: Annotated[int, Query(ge=1, le=MAX_LIMIT)] = DEFAULT_LIMIT,
    cursor: Annotated[str | None, Query(max_length=512, description="`next_cursor` of the previous page.")] = None,
) -> Any:
    chosen = provider_ids(session, None, provider)
    page = queries.list_deployments(
        session, status=status, provider_ids=chosen, environment=environment, limit=limit, cursor=cursor
    )
    return {"items": page.items, "next_cursor": page.next_cursor}


# -- one deployment ------------------------------------------------------------------------------
@router.get(
    "/{deployment_id}",
    response_model=DeploymentDetail,
    summary="A deployment: its version, parameters, resources with estimate and billed cost, outputs, versions",
    operation_id="get_deployment",
    responses=_NOT_FOUND,
)
def get_deployment(deployment_id: uuid.UUID, request: Request, session: SessionDep, snapshot: SnapshotDep) -> Any:
    return queries.deployment_detail(
        session, deployment_id=deployment_id, reader=request.app.state.snapshots, snapshot=snapshot
    )


@router.put(
    "/{deployment_id}",
    status_code=202,
    response_model=DeploymentAccepted,
    dependencies=[RequireOperator],
    summary="Change a deployment's template or parameters: the diff is planned and applied",
    operation_id="update_deployment",
    responses={**_PLANNED, **_NOT_FOUND, **_BUSY, **_BAD_TEMPLATE, **_UPSTREAM},
)
def update(
    deployment_id: uuid.UUID,
    body: DeploymentUpdate,
    acting: ActingDep,
    plan_only: PLAN_ONLY = False,
    idempotency_key: IDEMPOTENCY_KEY = None,
) -> Any:
    started = deployments.begin_update(
        acting.session, deployment_id, template=body.template, parameters=body.parameters,
        actor=acting.principal.actor, idempotency_key=idempotency_key, adapter_for=acting.adapter_for,
        plan_only=plan_only,
    )  # fmt: skip
    return _answer(acting, started, name=str(deployment_id), action="update", plan_only=plan_only)


@router.delete(
    "/{deployment_id}",
    status_code=202,
    response_model=DeploymentAccepted,
    dependencies=[RequireAdmin],
    summary="Destroy a deployment in reverse dependency order (protected resources refuse; retain: snapshot first)",
    operation_id="destroy_deployment",
    responses={**_NOT_FOUND, **_UPSTREAM, 409: {"description": "A resource is protected, or an apply is running."}},
)
def destroy(deployment_id: uuid.UUID, acting: ActingDep, idempotency_key: IDEMPOTENCY_KEY = None) -> Any:
    started = deployments.begin_destroy(
        acting.session, deployment_id, actor=acting.principal.actor, idempotency_key=idempotency_key,
        adapter_for=acting.adapter_for,
    )  # fmt: skip
    return _answer(acting, started, name=str(deployment_id), action="destroy")


@router.post(
    "/{deployment_id}/rollback",
    status_code=202,
    response_model=DeploymentAccepted,
    dependencies=[RequireOperator],
    summary="Return to the previous version, or to the version given",
    operation_id="rollback_deployment",
    responses={
        404: {"description": "No deployment with this id, or no such version of it."},
        409: {"description": "An apply is running, the version was never applied, or there is none earlier."},
        **_UPSTREAM,
    },
)
def rollback(
    deployment_id: uuid.UUID,
    acting: ActingDep,
    body: Annotated[RollbackIn | None, Body()] = None,
    idempotency_key: IDEMPOTENCY_KEY = None,
) -> Any:
    started = deployments.begin_rollback(
        acting.session, deployment_id, version=body.version if body else None, actor=acting.principal.actor,
        idempotency_key=idempotency_key, adapter_for=acting.adapter_for,
    )  # fmt: skip
    return _answer(acting, started, name=str(deployment_id), action="rollback")


@router.get(
    "/{deployment_id}/status",
    response_model=DeploymentStatus,
    summary="A deployment's state, each step of its latest apply, its versions and drift",
    operation_id="get_deployment_status",
    responses={**_NOT_FOUND, 502: {"description": "check_drift: a provider failed."}},
)
def status(
    deployment_id: uuid.UUID,
    acting: ActingDep,
    check_drift: Annotated[bool, Query(description="Compare with the clouds now (else: the last check's).")] = False,
) -> Any:
    if check_drift:
        drift.check(acting.session, deployment_id, acting.adapter_for)
        acting.session.flush()
    return queries.deployment_status(acting.session, deployment_id=deployment_id)


@router.get(
    "/{deployment_id}/logs",
    response_model=LogPage,
    summary="A deployment's log lines in order (follow with `after`, or live on the stream's deployments topic)",
    operation_id="get_deployment_logs",
    responses=_NOT_FOUND,
)
def logs(
    deployment_id: uuid.UUID,
    session: SessionDep,
    level: Annotated[
        Literal["debug", "info", "warning", "error"] | None, Query(description="This level and the more severe ones.")
    ] = None,
    step: Annotated[
        str | None,
        Query(max_length=160, description="A step's label (`2:update:web`) or a logical name (`web`: its every step)."),
    ] = None,
    version: Annotated[int | None, Query(ge=1, le=2**31 - 1, description="Only this version's lines.")] = None,
    after: Annotated[int | None, Query(ge=0, le=2**63 - 1, description="Only lines after this id.")] = None,
    limit: Annotated[int, Query(ge=1, le=MAX_LIMIT)] = DEFAULT_LIMIT,
) -> Any:
    page = queries.deployment_logs(
        session, deployment_id=deployment_id, level=level, step=step, version=version, after=after, limit=limit
    )
    return {"items": page.items, "next_after": page.next_after, "more": page.more}
