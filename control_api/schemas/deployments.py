"""Request and response models of the deployment endpoints (/api/cloud/deployments)."""

from __future__ import annotations

import uuid
from datetime import datetime
from decimal import Decimal
from typing import Annotated, Any, Literal

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, WithJsonSchema, model_validator

from control_api.schemas.operations import OperationOut
from control_plane.audit import MAX_DEPTH, depth_of
from control_plane.deployments.template_schema import EXAMPLE

DEPTH = MAX_DEPTH - 4  # the audit trail and the version row keep the body a few levels down


def _shallow(value: Any) -> Any:
    if depth_of(value) > DEPTH:
        raise ValueError(f"nested at most {DEPTH} levels deep")
    return value


PROVIDER = "0b6f6f0e-8d0f-4a53-9d55-2a7b7d1f1c11"
DEPLOYMENT = "7c1e4b0a-3f5d-4e8a-9b2c-1d0e6f7a8b9c"
OPERATION = "5d0c1bd6-0e77-4b4f-9a8e-6f1f0c3f2a10"
EXAMPLE_TEMPLATE: dict[str, Any] = EXAMPLE
EXAMPLE_YAML = """\
parameters:
  env: {type: string, default: staging, allowed: [prod, staging, dev]}
resources:
  files:
    provider: sandbox-aws
    type: bucket
    size: 0GB
    tags: {env: "${parameters.env}"}
"""
EXAMPLE_PLAN: dict[str, Any] = {
    "steps": [
        {"seq": 1, "name": "db", "action": "create", "depends_on": [], "changes": [],
         "before": None, "after": {"type": "database", "size": "db.t3.medium", "region": "us-east-1"},
         "monthly_estimate": "52.56"},
        {"seq": 2, "name": "web", "action": "create", "depends_on": [1], "changes": [],
         "before": None, "after": {"type": "instance_group", "size": "t3.medium", "region": "us-east-1"},
         "monthly_estimate": "60.74"},
    ],
    "summary": {"create": 2, "update": 0, "replace": 0, "delete": 0, "unchanged": 0},
    "unchanged": [],
    "monthly_estimate": {"total": "113.30", "currency": "USD"},
}  # fmt: skip

MAX_TEXT = 1_000_000


def _template(value: Any) -> Any:
    """A JSON object, or YAML or JSON text: one check, so a wrong value is one error at
    ``/template`` (a union would report one per member)."""
    if isinstance(value, dict):
        return _shallow(value)
    if isinstance(value, str) and 0 < len(value) <= MAX_TEXT:
        return value
    raise ValueError(f"a template is a JSON object, or YAML or JSON text of 1 to {MAX_TEXT} characters")


Template = Annotated[
    Any,
    AfterValidator(_template),
    WithJsonSchema({"anyOf": [{"type": "object"}, {"type": "string", "minLength": 1, "maxLength": MAX_TEXT}]}),
    Field(description="The template: a JSON object, or YAML or JSON text (see GET /deployments/schema)."),
]
OptionalTemplate = Annotated[
    Any,
    AfterValidator(lambda value: None if value is None else _template(value)),
    WithJsonSchema(
        {"anyOf": [{"type": "object"}, {"type": "string", "minLength": 1, "maxLength": MAX_TEXT}, {"type": "null"}]}
    ),
    Field(description="A new template (JSON object, or YAML or JSON text); absent: the current one."),
]
Parameters = Annotated[
    dict[Annotated[str, Field(min_length=1, max_length=128)], Any],
    AfterValidator(_shallow),
    Field(description="Values of the template's parameters; a parameter not given takes its default."),
]
DeploymentState = Literal[
    "pending", "applying", "deployed", "rolled_back", "failed", "paused", "destroying", "destroyed"
]


class DeploymentIn(BaseModel):
    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={
            "examples": [
                {"name": "booking-prod", "template": EXAMPLE_TEMPLATE, "parameters": {"env": "prod", "web_count": 3}},
                {"name": "files-staging", "template": EXAMPLE_YAML, "parameters": {}, "on_failure": "pause"},
            ]
        },
    )

    name: str = Field(
        min_length=1,
        max_length=120,
        description="Unique: 1-40 lowercase letters, digits and hyphens, starting with a letter (it prefixes "
        "the name of every resource it makes).",
    )
    template: Template
    parameters: Parameters = Field(default_factory=dict)
    on_failure: Literal["rollback", "pause"] | None = Field(
        default=None,
        description="What a failed apply does: roll back what it did (the default) or pause, keeping it. "
        "Overrides the template's `on_failure`.",
    )


class DeploymentUpdate(BaseModel):
    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={
            "examples": [{"parameters": {"web_size": "t3.large"}}, {"template": EXAMPLE_TEMPLATE, "parameters": {}}]
        },
    )

    template: OptionalTemplate = None
    parameters: Parameters | None = None

    @model_validator(mode="after")
    def _something(self) -> DeploymentUpdate:
        if self.template is None and self.parameters is None:
            raise ValueError("give a new template, new parameters, or both")
        return self


class RollbackIn(BaseModel):
    model_config = ConfigDict(extra="forbid", json_schema_extra={"examples": [{"version": 2}, {}]})

    version: int | None = Field(
        default=None, ge=1, le=2**31 - 1, description="The version to return to; default: the one before the current."
    )


class ValidateIn(BaseModel):
    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={
            "examples": [
                {"template": EXAMPLE_TEMPLATE, "parameters": {"env": "staging"}},
                {"template": EXAMPLE_TEMPLATE, "parameters": {"web_size": "t3.large"}, "deployment_id": DEPLOYMENT},
            ]
        },
    )

    template: Template
    parameters: Parameters = Field(default_factory=dict)
    deployment_id: uuid.UUID | None = Field(default=None, description="Also plan the diff against this deployment.")
    name: str | None = Field(
        default=None, min_length=1, max_length=120, description="The deployment's name, to check for name clashes."
    )


# -- answers --------------------------------------------------------------------------------------
class PlanStepOut(BaseModel):
    seq: int
    name: str = Field(description="The resource's logical name in the template.")
    action: str = Field(description="create, update (in place), replace, delete or retire.")
    depends_on: list[int] = Field(default_factory=list, description="The seqs of the steps that must be done first.")
    changes: list[str] = Field(default_factory=list, description="What changes, field by field.")
    before: dict[str, Any] | None = None
    after: dict[str, Any] | None = None
    monthly_estimate: Decimal | None = None


class PlanOut(BaseModel):
    model_config = ConfigDict(extra="allow", json_schema_extra={"examples": [EXAMPLE_PLAN]})

    steps: list[PlanStepOut]
    summary: dict[str, int] = Field(description="Steps per action, and the resources left unchanged.")
    unchanged: list[str] = Field(default_factory=list, description="The resources this plan leaves as they are.")
    monthly_estimate: dict[str, Any] | None = Field(default=None, description="`total` and `currency`.")


class DeploymentAccepted(OperationOut):
    """The operation applying the change (poll it), with the deployment, its version and plan."""

    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "id": OPERATION, "kind": "deployment", "status": "pending", "provider_id": None,
                    "resource_id": None, "request": {"action": "create", "name": "booking-prod"}, "result": None,
                    "error": None, "attempts": 0, "created_at": "2026-11-27T09:00:00+00:00", "started_at": None,
                    "finished_at": None, "deployment_id": DEPLOYMENT, "version": 1, "plan": EXAMPLE_PLAN,
                }
            ]
        }
    )  # fmt: skip

    deployment_id: uuid.UUID
    version: int | None
    plan: PlanOut


class PlanAnswer(BaseModel):
    """``plan_only=true``: what would be done; nothing was applied or written. (Also the answer to
    a change that plans nothing to do: then nothing was started.)"""

    model_config = ConfigDict(
        json_schema_extra={
            "examples": [{"plan_only": True, "deployment_id": None, "name": "booking-prod", "plan": EXAMPLE_PLAN}]
        }
    )

    plan_only: bool = Field(description="true: asked for the plan only; false: there was nothing to apply.")
    deployment_id: uuid.UUID | None = Field(description="The deployment changed (null: one not yet created).")
    name: str
    plan: PlanOut


class Money(BaseModel):
    amount: Decimal | None
    currency: str | None


class ActualCost(Money):
    from_: str = Field(alias="from")
    through: str
    days: int


class ProviderRef(BaseModel):
    id: str
    name: str | None


EXAMPLE_DEPLOYMENT: dict[str, Any] = {
    "id": DEPLOYMENT, "name": "booking-prod", "environment": "prod", "status": "deployed",
    "on_failure": "rollback", "current_version": 2, "latest_version": 2,
    "providers": [{"id": PROVIDER, "name": "sandbox-aws"}], "created_by": "key:ops",
    "created_at": "2026-11-27T09:00:00+00:00", "updated_at": "2026-11-27T09:04:10+00:00",
}  # fmt: skip


class DeploymentOut(BaseModel):
    model_config = ConfigDict(json_schema_extra={"examples": [EXAMPLE_DEPLOYMENT]})

    id: uuid.UUID
    name: str
    environment: str | None
    status: str = Field(
        description="pending, applying, deployed, rolled_back (its last change failed and was undone), failed, "
        "paused, destroying or destroyed."
    )
    on_failure: str
    current_version: int | None = Field(description="The last version applied whole (null: none yet).")
    latest_version: int
    providers: list[ProviderRef]
    created_by: str
    created_at: datetime
    updated_at: datetime


class VersionOut(BaseModel):
    number: int
    kind: str = Field(description="create, update, rollback or destroy.")
    outcome: str = Field(description="planned, applying, applied, failed, rolled_back, paused or superseded.")
    author: str
    rollback_of: int | None
    operation_id: uuid.UUID | None
    error: dict[str, Any] | None
    created_at: datetime
    finished_at: datetime | None


class VersionDetail(VersionOut):
    template: dict[str, Any]
    parameters: dict[str, Any]


class DeployedResource(BaseModel):
    name: str = Field(description="Its logical name in the template.")
    provider: ProviderRef
    type: str
    region: str
    size: str | None
    tags: dict[str, Any]
    cloud_id: str | None = Field(description="The provider's id of it (null until made).")
    resource_id: uuid.UUID | None = Field(description="Its row under /resources.")
    state: str | None
    version: int = Field(description="The version that last made or changed it.")
    monthly_estimate: Money | None = Field(description="From the price catalogue.")
    actual_cost: ActualCost | None = Field(
        description="EffectiveCost from the bills over the provider's last 30 billed days (null: none billed yet)."
    )
    attributes: dict[str, Any] = Field(description="What `${resources.<name>.<attribute>}` reads of it.")


class DeploymentDetail(DeploymentOut):
    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    **EXAMPLE_DEPLOYMENT,
                    "version": {
                        "number": 2, "kind": "update", "outcome": "applied", "author": "key:ops", "rollback_of": None,
                        "operation_id": OPERATION, "error": None, "created_at": "2026-11-27T09:03:00+00:00",
                        "finished_at": "2026-11-27T09:04:10+00:00", "template": EXAMPLE_TEMPLATE,
                        "parameters": {"env": "prod"},
                    },
                    "resources": [{
                        "name": "db", "provider": {"id": PROVIDER, "name": "sandbox-aws"}, "type": "database",
                        "region": "us-east-1", "size": "db.t3.medium", "tags": {"env": "prod", "app": "booking"},
                        "cloud_id": "sbx-aws-db-4f1c2a", "resource_id": "9a3e3d55-6a43-4c64-9f0e-8a3f2b8c1d20",
                        "state": "available", "version": 1,
                        "monthly_estimate": {"amount": "52.56", "currency": "USD"},
                        "actual_cost": {"amount": "49.10", "currency": "USD", "from": "2026-10-25",
                                        "through": "2026-11-23", "days": 30},
                        "attributes": {"endpoint": "db.sbx.internal:5432"},
                    }],
                    "outputs": {"db_endpoint": "db.sbx.internal:5432"},
                    "monthly_estimate": [{"amount": "113.30", "currency": "USD"}],
                    "versions": [],
                }
            ]
        }
    )  # fmt: skip

    version: VersionDetail | None = Field(description="The current version (the latest while none is applied).")
    resources: list[DeployedResource]
    outputs: dict[str, Any]
    monthly_estimate: list[Money] = Field(description="The resources' estimates, summed per currency.")
    versions: list[VersionOut] = Field(description="Every version, newest first.")


class StepOut(BaseModel):
    seq: int
    name: str
    action: str
    status: str = Field(description="planned, started, done, failed, skipped, undoing, undone or undo_failed.")
    depends_on: list[int]
    started_at: datetime | None
    finished_at: datetime | None
    error: dict[str, Any] | None


class Progress(BaseModel):
    done: int
    total: int


class DeploymentStatus(BaseModel):
    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "id": DEPLOYMENT, "name": "booking-prod", "status": "applying", "current_version": 1,
                    "latest_version": 2,
                    "apply": {"number": 2, "kind": "update", "outcome": "applying", "author": "key:ops",
                              "rollback_of": None, "operation_id": OPERATION, "error": None,
                              "created_at": "2026-11-27T09:03:00+00:00", "finished_at": None},
                    "steps": [{"seq": 1, "name": "web", "action": "update", "status": "started", "depends_on": [],
                               "started_at": "2026-11-27T09:03:01+00:00", "finished_at": None, "error": None}],
                    "progress": {"done": 0, "total": 1},
                    "drift": {"checked_at": "2026-11-27T04:30:00+00:00", "drifted": False, "missing": [],
                              "changed": [], "extra": [], "errors": []},
                    "drift_checked_at": "2026-11-27T04:30:00+00:00",
                }
            ]
        }
    )  # fmt: skip

    id: uuid.UUID
    name: str
    status: str
    current_version: int | None
    latest_version: int
    apply: VersionOut | None = Field(description="The latest version's apply.")
    steps: list[StepOut] = Field(description="Each step of the latest apply, in plan order.")
    progress: Progress
    drift: dict[str, Any] | None = Field(description="What the last drift check found (null: never checked).")
    drift_checked_at: datetime | None


class LogLine(BaseModel):
    id: int
    at: datetime
    level: str
    step: str | None
    message: str
    version: int | None
    operation_id: uuid.UUID | None


class LogPage(BaseModel):
    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "items": [{"id": 41, "at": "2026-11-27T09:03:01+00:00", "level": "info", "step": "web",
                               "message": "update web: size t3.medium -> t3.large", "version": 2,
                               "operation_id": OPERATION}],
                    "next_after": 41, "more": False,
                }
            ]
        }
    )  # fmt: skip

    items: list[LogLine]
    next_after: int | None = Field(description="Pass as `after` to read the lines written since.")
    more: bool = Field(description="More lines already follow this page.")


class EstimatedResource(BaseModel):
    name: str
    provider_id: uuid.UUID | None
    type: str
    region: str | None
    size: str | None
    monthly_estimate: Decimal | None
    currency: str | None
    basis: str | None


class ValidationOut(BaseModel):
    model_config = ConfigDict(
        extra="allow",
        json_schema_extra={
            "examples": [
                {
                    "valid": True, "problems": [], "warnings": [],
                    "resources": [{"name": "db", "provider_id": PROVIDER, "type": "database", "region": "us-east-1",
                                   "size": "db.t3.medium", "monthly_estimate": "52.56", "currency": "USD",
                                   "basis": "0.072/hour x 730 hours"}],
                    "monthly_estimate": {"total": "52.56", "currency": "USD"}, "diff": None,
                }
            ]
        },
    )  # fmt: skip

    valid: bool
    problems: list[dict[str, Any]]
    warnings: list[Any] = Field(default_factory=list)
    parameters: dict[str, Any] = Field(default_factory=dict, description="Every parameter's value, defaults filled.")
    resources: list[EstimatedResource]
    monthly_estimate: dict[str, Any] | None
    diff: PlanOut | None = Field(description="Given deployment_id: the plan against its current version.")
