"""Request and response models of /api/cloud/monitoring/alerts and its silences."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any, Literal

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field, field_validator, model_validator

from control_api.schemas.alert_rules import LABEL_NAME, Duration

AlertState = Literal["pending", "firing", "acknowledged", "resolved"]


def _plausible(value: datetime | None) -> datetime | None:
    if value is not None and not 2000 <= value.year <= 2999:
        raise ValueError("a time between the years 2000 and 2999")
    return value


class TransitionOut(BaseModel):
    model_config = ConfigDict(populate_by_name=True)

    id: int
    at: datetime
    from_: str | None = Field(alias="from", description="inactive for a new alert.")
    to: str = Field(description="pending, firing, resolved, inactive, acknowledged or unacknowledged.")
    value: float | None
    actor: str | None = Field(description="Who acknowledged (the key's name); null for the evaluator.")
    detail: dict[str, Any]


class AckOut(BaseModel):
    by: str | None
    at: datetime
    note: str | None
    expires_at: datetime | None


EXAMPLE_ALERT: dict[str, Any] = {
    "id": "3f2b8f0e-1c7d-4f0a-8d6b-2a9c5e7d1b40", "rule_id": "0b5c2a6e-8f0e-4a59-9a8e-6f0f4b1d2c3e",
    "rule": "web cpu high", "state": "acknowledged", "severity": "critical",
    "labels": {"alertname": "web cpu high", "severity": "critical", "resource": "web-1",
               "resource_id": "5a0c7b9e-0d1f-4e2a-8b3c-6d7e8f9a0b1c", "provider": "sandbox-aws",
               "provider_id": "7d1e0f7c-3b7a-4a8e-9a53-2f7c9e1b4d10", "team": "platform"},
    "annotations": {"summary": "web-1 CPU at 93.5%", "runbook_url": "https://runbooks.example.com/cpu"},
    "value": 93.5, "resource_id": "5a0c7b9e-0d1f-4e2a-8b3c-6d7e8f9a0b1c",
    "provider_id": "7d1e0f7c-3b7a-4a8e-9a53-2f7c9e1b4d10", "fingerprint": "9c1d" + "0" * 60,
    "active_since": "2026-12-07T10:00:00Z", "fired_at": "2026-12-07T10:05:00Z", "cleared_since": None,
    "resolved_at": None, "last_evaluated_at": "2026-12-07T10:06:00Z",
    "ack": {"by": "ops-key", "at": "2026-12-07T10:06:10Z", "note": "scaling out", "expires_at": "2026-12-07T12:00:00Z"},
    "updated_at": "2026-12-07T10:06:10Z",
    "transitions": [
        {"id": 1, "at": "2026-12-07T10:00:00Z", "from": "inactive", "to": "pending", "value": 91.2, "actor": None,
         "detail": {}},
        {"id": 2, "at": "2026-12-07T10:05:00Z", "from": "pending", "to": "firing", "value": 93.5, "actor": None,
         "detail": {}},
        {"id": 3, "at": "2026-12-07T10:06:10Z", "from": "firing", "to": "acknowledged", "value": 93.5,
         "actor": "ops-key", "detail": {"note": "scaling out", "expires_at": "2026-12-07T12:00:00+00:00",
                                        "again": False}},
    ],
}  # fmt: skip


class MonitorAlertOut(BaseModel):
    model_config = ConfigDict(json_schema_extra={"examples": [EXAMPLE_ALERT]})

    id: uuid.UUID
    rule_id: uuid.UUID
    rule: str
    state: str = Field(description="pending, firing, acknowledged (firing, acked, not expired), resolved, inactive.")
    severity: str
    labels: dict[str, Any]
    annotations: dict[str, Any]
    value: float | None = Field(description="The rule's measure when last evaluated (metric, minutes, percent, ...).")
    resource_id: uuid.UUID | None
    provider_id: uuid.UUID | None
    fingerprint: str
    active_since: datetime = Field(description="The first breach.")
    fired_at: datetime | None
    cleared_since: datetime | None = Field(description="Firing but clear since then: resolves after the rule's hold.")
    resolved_at: datetime | None
    last_evaluated_at: datetime | None
    ack: AckOut | None
    updated_at: datetime
    transitions: list[TransitionOut] = Field(
        description="In a listing the last five, in GET /alerts/{id} all of them; oldest first."
    )


class AckIn(BaseModel):
    """Acknowledge: repeats stop until the alert resolves or the ack expires. Acknowledging
    again replaces the note, the expiry and who acknowledged."""

    model_config = ConfigDict(
        extra="forbid", json_schema_extra={"examples": [{"note": "scaling out the web tier", "expires_in": "2h"}]}
    )

    note: str | None = Field(default=None, max_length=2000)
    expires_at: AwareDatetime | None = Field(default=None, description="When the ack lapses (with its zone).")
    expires_in: Duration | None = Field(default=None, description="Or: how long from now the ack lasts.")

    _when = field_validator("expires_at")(_plausible)

    @field_validator("expires_in")
    @classmethod
    def _positive(cls, value: float | None) -> float | None:
        if value is not None and value <= 0:
            raise ValueError("greater than 0")
        return value

    @model_validator(mode="after")
    def _one_expiry(self) -> AckIn:
        if self.expires_at is not None and self.expires_in is not None:
            raise ValueError("give expires_at or expires_in, not both")
        return self


class Matcher(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: str = Field(pattern=LABEL_NAME, description="A label name (alertname, severity, resource, provider, ...).")
    op: Literal["=", "!=", "=~", "!~"] = Field(default="=", description="=~ and !~: a regular expression, anchored.")
    value: str = Field(max_length=1024)


class SilenceIn(BaseModel):
    """Alerts whose labels match every matcher are not notified between starts_at and ends_at."""

    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={"examples": [{
            "matchers": [{"name": "alertname", "op": "=", "value": "web cpu high"},
                         {"name": "resource", "op": "=~", "value": "web-.*"}],
            "starts_at": "2026-12-07T22:00:00Z", "ends_at": "2026-12-08T02:00:00Z",
            "comment": "planned maintenance of the web tier"}]},
    )  # fmt: skip

    matchers: list[Matcher] = Field(min_length=1, max_length=20)
    starts_at: AwareDatetime | None = Field(default=None, description="Default: now.")
    ends_at: AwareDatetime
    comment: str = Field(default="", max_length=2000)

    _when = field_validator("starts_at", "ends_at")(_plausible)


class SilenceOut(BaseModel):
    model_config = ConfigDict(json_schema_extra={"examples": [{
        "id": "6c1e2d3f-4a5b-4c6d-8e7f-9a0b1c2d3e4f",
        "matchers": [{"name": "alertname", "op": "=", "value": "web cpu high"}],
        "starts_at": "2026-12-07T22:00:00Z", "ends_at": "2026-12-08T02:00:00Z",
        "comment": "planned maintenance of the web tier", "created_by": "ops-key",
        "created_at": "2026-12-07T21:00:00Z", "state": "pending"}]})  # fmt: skip

    id: uuid.UUID
    matchers: list[dict[str, Any]]
    starts_at: datetime
    ends_at: datetime
    comment: str
    created_by: str | None
    created_at: datetime
    state: Literal["active", "pending", "expired"]
