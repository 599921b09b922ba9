"""Request and response models of /api/cloud/monitoring/alerts/rules: a rule is one of six
kinds, told apart by ``kind`` (control_plane.monitoring.rules)."""

from __future__ import annotations

import math
import uuid
from datetime import datetime
from typing import Annotated, Any, Literal

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, HttpUrl, field_validator

from control_plane.monitoring.rules import COMPARATORS, parse_duration
from control_plane.store.monitoring_models import METRICS

NAME_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9 ._:()/-]{0,119}$"
LABEL_NAME = r"^[A-Za-z_][A-Za-z0-9_]{0,63}$"
RESERVED_LABELS = ("alertname", "severity", "resource", "resource_id", "provider", "provider_id")
DECIMAL_PATTERN = r"^[0-9]{1,12}(\.[0-9]{1,6})?$"
Severity = Literal["critical", "warning", "info"]
Metric = Literal["cpu", "memory", "network_in", "network_out", "disk_read", "disk_write", "cost_rate"]
assert set(Metric.__args__) == set(METRICS)  # type: ignore[attr-defined]
Comparator = Literal[">", ">=", "<", "<=", "==", "!="]
assert set(Comparator.__args__) == set(COMPARATORS)  # type: ignore[attr-defined]


def _seconds(value: float | str) -> float:
    return parse_duration(value)


Duration = Annotated[
    float | str,
    AfterValidator(_seconds),
    Field(description="Seconds, or a string such as '30s', '5m', '1h30m', '1d'; not negative."),
]


def _no_credentials(url: HttpUrl) -> HttpUrl:
    if url.username or url.password:
        raise ValueError("must not hold a user name or password")
    if len(str(url)) > 2048:
        raise ValueError("at most 2048 characters")
    return url


class Selector(BaseModel):
    """Which resources (or providers) a rule watches; every part given must hold, none: all."""

    model_config = ConfigDict(
        extra="forbid", json_schema_extra={"examples": [{"provider": ["sandbox-aws"], "tags": {"env": "prod"}}]}
    )

    provider: list[Annotated[str, Field(min_length=1, max_length=200)]] = Field(
        default_factory=list, max_length=50,
        description="Providers by id, WedCloud name, FOCUS ProviderName or cloud (aws, azure, gcp); stored as ids.",
    )  # fmt: skip
    resources: list[uuid.UUID] = Field(default_factory=list, max_length=500, description="Resource ids.")
    tags: dict[Annotated[str, Field(min_length=1, max_length=128)], Annotated[str, Field(max_length=256)]] = Field(
        default_factory=dict, max_length=20, description="Tags every selected resource carries with these values."
    )


class Annotations(BaseModel):
    model_config = ConfigDict(extra="forbid")

    summary: str | None = Field(
        default=None, max_length=500, description="One line; `{label}` and `{value}` are filled in."
    )
    description: str | None = Field(default=None, max_length=4000)
    runbook_url: Annotated[HttpUrl, AfterValidator(_no_credentials)] | None = Field(
        default=None, description="An http or https page telling the on-call what to do."
    )


class Route(BaseModel):
    """Where notifications go: ``webhook`` (signed, Standard Webhooks), ``slack`` (a
    Slack-compatible incoming webhook) or ``email`` (SMTP with STARTTLS)."""

    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={"examples": [{"type": "webhook", "url": "https://hooks.example.com/oncall"},
                                        {"type": "email", "to": ["ops@example.com"]}]},
    )  # fmt: skip

    type: Literal["webhook", "slack", "email"]
    url: str | None = Field(default=None, max_length=2048, description="webhook and slack: http(s), public address.")
    to: list[Annotated[str, Field(max_length=254)]] | None = Field(default=None, max_length=50, description="email.")


class Grouping(BaseModel):
    """Alertmanager's grouping: alerts of the rule with the same ``group_by`` labels are sent
    together after group_wait, again after group_interval when the group changed, and again
    after repeat_interval when it did not (unless acknowledged)."""

    model_config = ConfigDict(extra="forbid")

    group_by: list[Annotated[str, Field(pattern=LABEL_NAME)]] = Field(default=["alertname"], max_length=20)
    group_wait: Duration = 30.0
    group_interval: Duration = 300.0
    repeat_interval: Duration = 14400.0


class RuleBase(BaseModel):
    model_config = ConfigDict(extra="forbid", populate_by_name=True)

    name: str = Field(pattern=NAME_PATTERN, description="Unique; the alerts' `alertname` label.")
    severity: Severity = "warning"
    labels: dict[Annotated[str, Field(pattern=LABEL_NAME)], Annotated[str, Field(max_length=256)]] = Field(
        default_factory=dict, max_length=20, description=f"Added to every alert; not {', '.join(RESERVED_LABELS)}."
    )
    annotations: Annotations = Field(default_factory=Annotations)
    routes: list[Route] = Field(default_factory=list, max_length=10)
    grouping: Grouping = Field(default_factory=Grouping)
    hold: Duration = Field(
        default=60.0, description="How long a firing alert's condition must stay clear before it resolves."
    )
    enabled: bool = True
    for_: Duration = Field(default=0.0, alias="for", description="How long it must breach before it fires.")

    @field_validator("labels")
    @classmethod
    def _not_reserved(cls, value: dict[str, str]) -> dict[str, str]:
        taken = [k for k in value if k in RESERVED_LABELS]
        if taken:
            raise ValueError(f"{', '.join(taken)}: set by WedCloud on each alert")
        return value


EXAMPLE_RULE: dict[str, Any] = {
    "name": "web cpu high", "kind": "threshold", "severity": "critical", "metric": "cpu",
    "selector": {"provider": ["sandbox-aws"], "tags": {"role": "web"}}, "aggregation": "avg", "window": "1m",
    "comparator": ">", "threshold": 90, "for": "5m", "labels": {"team": "platform"},
    "annotations": {"summary": "{resource} CPU at {value}%", "runbook_url": "https://runbooks.example.com/cpu"},
    "routes": [{"type": "webhook", "url": "https://hooks.example.com/oncall"}],
    "grouping": {"group_by": ["alertname", "provider"], "group_wait": "30s", "group_interval": "5m",
                 "repeat_interval": "4h"},
    "hold": "1m",
}  # fmt: skip


class ThresholdRule(RuleBase):
    model_config = ConfigDict(extra="forbid", populate_by_name=True, json_schema_extra={"examples": [EXAMPLE_RULE]})

    kind: Literal["threshold"]
    metric: Metric
    selector: Selector = Field(default_factory=Selector)
    aggregation: Literal["avg", "max", "min", "p95"] = "avg"
    window: Duration = Field(default=60.0, description="The samples aggregated: the last `window` (30 s to 1 h).")
    comparator: Comparator
    threshold: float

    @field_validator("window")
    @classmethod
    def _window(cls, value: float) -> float:
        if not 30 <= value <= 3600:
            raise ValueError("from 30 seconds to 1 hour")
        return value

    @field_validator("threshold")
    @classmethod
    def _finite(cls, value: float) -> float:
        if not math.isfinite(value):
            raise ValueError("a finite number")
        return value


class AbsenceRule(RuleBase):
    model_config = ConfigDict(
        extra="forbid",
        populate_by_name=True,
        json_schema_extra={
            "examples": [
                {
                    "name": "web silent",
                    "kind": "absence",
                    "severity": "warning",
                    "minutes": 10,
                    "selector": {"tags": {"role": "web"}},
                }
            ]
        },
    )

    kind: Literal["absence"]
    selector: Selector = Field(default_factory=Selector)
    minutes: float = Field(gt=0, le=1440, description="No sample of a selected resource for this long fires.")


class ProviderUnreachableRule(RuleBase):
    model_config = ConfigDict(
        extra="forbid",
        populate_by_name=True,
        json_schema_extra={
            "examples": [
                {
                    "name": "aws down",
                    "kind": "provider_unreachable",
                    "severity": "critical",
                    "selector": {"provider": ["aws"]},
                    "failures": 2,
                }
            ]
        },
    )

    kind: Literal["provider_unreachable"]
    selector: Selector = Field(default_factory=Selector, description="Only `provider` counts here.")
    failures: int = Field(default=1, ge=1, le=20, description="Collection attempts failed in a row.")


class BudgetForecastRule(RuleBase):
    model_config = ConfigDict(
        extra="forbid",
        populate_by_name=True,
        json_schema_extra={
            "examples": [
                {
                    "name": "bookings over budget",
                    "kind": "budget_forecast",
                    "budget_id": "2b7d3c4e-5f60-4a1b-8c2d-3e4f5a6b7c8d",
                    "percent": 100,
                }
            ]
        },
    )

    kind: Literal["budget_forecast"]
    budget_id: uuid.UUID
    percent: int = Field(default=100, ge=1, le=1000, description="Of the budget's amount, by the forecast.")


class CostAnomalyRule(RuleBase):
    model_config = ConfigDict(
        extra="forbid",
        populate_by_name=True,
        json_schema_extra={
            "examples": [
                {
                    "name": "cost spike",
                    "kind": "cost_anomaly",
                    "severity": "info",
                    "min_impact": "50.00",
                    "recent_days": 3,
                }
            ]
        },
    )

    kind: Literal["cost_anomaly"]
    min_impact: str | None = Field(default=None, pattern=DECIMAL_PATTERN, description="In the anomaly's currency.")
    recent_days: int = Field(default=7, ge=1, le=90, description="An anomaly ending this recently is open.")


class DriftRule(RuleBase):
    """One alert per deployment whose last drift check (daily, or a status read) found it drifted:
    a resource missing, a size or template tag changed, or an extra resource carrying its tag."""

    model_config = ConfigDict(
        extra="forbid",
        populate_by_name=True,
        json_schema_extra={"examples": [{"name": "booking stack drifted", "kind": "drift", "severity": "warning"}]},
    )

    kind: Literal["drift"]
    deployment_id: uuid.UUID | None = Field(default=None, description="Only this deployment; none: every one.")


class DisasterRecoveryRule(RuleBase):
    """One alert per disaster-recovery plan and problem: its RPO now is past its target (or it has
    no usable backup), a failover could neither finish nor go back (``degraded``), or its health
    check has failed as often as its automatic-failover rule allows."""

    model_config = ConfigDict(
        extra="forbid",
        populate_by_name=True,
        json_schema_extra={"examples": [{"name": "booking RPO", "kind": "disaster_recovery", "severity": "critical"}]},
    )

    kind: Literal["disaster_recovery"]
    plan_id: uuid.UUID | None = Field(default=None, description="Only this plan; none: every one.")


RuleIn = Annotated[
    ThresholdRule
    | AbsenceRule
    | ProviderUnreachableRule
    | BudgetForecastRule
    | CostAnomalyRule
    | DriftRule
    | DisasterRecoveryRule,
    Field(discriminator="kind"),
]
COMMON = ("name", "severity", "labels", "annotations", "routes", "grouping", "hold", "enabled", "kind")


def fields_of(body: BaseModel) -> dict[str, Any]:
    """A body as ``rules.save_rule`` takes it: the common fields, the kind's in ``spec``."""
    data = body.model_dump(mode="json", by_alias=True, exclude_none=False)
    fields = {k: data.pop(k) for k in COMMON}
    fields["annotations"] = {k: v for k, v in fields["annotations"].items() if v is not None}
    fields["routes"] = [{k: v for k, v in r.items() if v is not None} for r in fields["routes"]]
    fields["spec"] = data
    return fields


class RuleOut(BaseModel):
    """A rule: the common fields and its kind's (as in the body that made it; durations in seconds)."""

    model_config = ConfigDict(extra="allow", populate_by_name=True, json_schema_extra={"examples": [
        {**EXAMPLE_RULE, "id": "0b5c2a6e-8f0e-4a59-9a8e-6f0f4b1d2c3e", "window": 60.0, "for": 300.0, "hold": 60.0,
         "selector": {"provider": ["7d1e0f7c-3b7a-4a8e-9a53-2f7c9e1b4d10"], "resources": [], "tags": {"role": "web"}},
         "routes": [{"type": "webhook", "url": "https://hooks.example.com/***"}],
         "grouping": {"group_by": ["alertname", "provider"], "group_wait": 30.0, "group_interval": 300.0,
                      "repeat_interval": 14400.0},
         "enabled": True, "has_signing_secret": True, "created_by": "ops-key",
         "created_at": "2026-12-07T10:00:00Z", "updated_at": "2026-12-07T10:00:00Z"}]})  # fmt: skip

    id: uuid.UUID
    name: str
    kind: str
    severity: str
    labels: dict[str, Any]
    annotations: dict[str, Any]
    routes: list[dict[str, Any]]
    grouping: dict[str, Any]
    hold: float
    enabled: bool
    for_: float = Field(default=0.0, alias="for")
    has_signing_secret: bool
    created_by: str | None
    created_at: datetime
    updated_at: datetime


class RuleCreated(RuleOut):
    webhook_secret: str | None = Field(
        default=None,
        description="The rule's webhook signing secret (whsec_...), shown only in this answer: made when the rule "
        "first has a webhook route. Receivers verify `webhook-signature` with it (Standard Webhooks v1).",
    )
