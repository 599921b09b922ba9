"""Request and response models of /api/cloud/costs/budgets (``control_api.routers.budgets``)."""

from __future__ import annotations

import re
import uuid
from datetime import date, datetime
from decimal import Decimal
from typing import Annotated, Any, Literal

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, HttpUrl, field_validator

from analytics.breakdown import DIMENSIONS, TAG_PREFIX, known_dimensions
from analytics.budgets import DEFAULT_THRESHOLDS
from analytics.focus.currencies import is_iso_4217
from control_api.schemas.costs import CURRENCY_SCHEMA

NAME_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9 ._()/-]{0,119}$"
AMOUNT_PATTERN = r"^[0-9]{1,12}(\.[0-9]{1,6})?$"  # and greater than 0 (_check_amount)
AMOUNT = re.compile(AMOUNT_PATTERN)
EMAIL = r"^[^@\s<>,;\"]{1,64}@[A-Za-z0-9-]+(\.[A-Za-z0-9-]+)+$"
States = Literal["ok", "at_risk", "exceeded", "unknown"]
Percent = Annotated[int, Field(ge=1, le=1000, description="A whole percent of the amount.")]
ScopeValues = Annotated[list[Annotated[str, Field(min_length=1, max_length=512)]], Field(min_length=1, max_length=100)]


URL_LIMIT = 2083  # HttpUrl's own limit, which it checks on the text given, not on the normalised URL


def _fits(url: HttpUrl) -> HttpUrl:
    """The URL as normalised (a slash added after a bare host, non-ASCII escaped) must still fit,
    or the budget could not be answered with it."""
    if len(str(url)) > URL_LIMIT:
        raise ValueError(f"at most {URL_LIMIT} characters once normalised ({len(str(url))})")
    return url


# -- bodies --------------------------------------------------------------------------------------
class WebhookTarget(BaseModel):
    model_config = ConfigDict(
        extra="forbid", json_schema_extra={"examples": [{"type": "webhook", "url": "https://hooks.example.com/finops"}]}
    )

    type: Literal["webhook"]
    url: Annotated[HttpUrl, AfterValidator(_fits)] = Field(
        description=f"http or https, at most {URL_LIMIT} characters; receives a JSON POST per alert."
    )


class EmailTarget(BaseModel):
    model_config = ConfigDict(
        extra="forbid", json_schema_extra={"examples": [{"type": "email", "address": "finops@example.com"}]}
    )

    type: Literal["email"]
    address: str = Field(pattern=EMAIL, max_length=254, description="Sent through WEDCLOUD_ALERTS_SMTP_HOST.")


Target = Annotated[WebhookTarget | EmailTarget, Field(discriminator="type")]


class Thresholds(BaseModel):
    model_config = ConfigDict(
        extra="forbid", json_schema_extra={"examples": [{"actual": [50, 80, 100], "forecast": [100]}]}
    )

    actual: list[Percent] = Field(
        default=list(DEFAULT_THRESHOLDS["actual"]), max_length=10, description="Alert when spend to date reaches these."
    )
    forecast: list[Percent] = Field(
        default=list(DEFAULT_THRESHOLDS["forecast"]),
        max_length=10,
        description="Alert when the spend forecast at period end reaches these.",
    )

    @field_validator("actual", "forecast")
    @classmethod
    def _sorted(cls, value: list[int]) -> list[int]:
        return sorted(set(value))


def _check_scope(value: dict[str, list[str]] | None) -> dict[str, list[str]] | None:
    if value is None:
        return None
    bad = [
        name for name in value if name not in DIMENSIONS and not (name.startswith(TAG_PREFIX) and name != TAG_PREFIX)
    ]
    if bad:
        raise ValueError(f"{', '.join(map(repr, bad))}: not a dimension; use {known_dimensions()}")
    return {name: sorted(set(values)) for name, values in sorted(value.items())}


def _check_amount(value: str | None) -> str | None:
    if value is None:
        return None
    if not AMOUNT.fullmatch(value) or Decimal(value) <= 0:
        raise ValueError("a decimal string greater than 0, at most 12 digits and 6 decimals, such as '1500.00'")
    return value


def _check_currency(value: str | None) -> str | None:
    if value is not None and not is_iso_4217(value):
        raise ValueError(f"an ISO 4217 currency code such as USD, not {value!r}")
    return value


EXAMPLE_BODY: dict[str, Any] = {
    "name": "Bookings team monthly",
    "scope": {"provider": ["AWS"], "tag:team": ["bookings"]},
    "amount": "1500.00",
    "currency": "USD",
    "period": "month",
    "thresholds": {"actual": [50, 80, 100], "forecast": [100]},
    "targets": [{"type": "webhook", "url": "https://hooks.example.com/finops"},
                {"type": "email", "address": "bookings-leads@example.com"}],
    "notes": "Agreed with finance for FY27.",
}  # fmt: skip


class BudgetCreate(BaseModel):
    """A spending limit on part of the cost data, per calendar month, quarter or year."""

    model_config = ConfigDict(extra="forbid", json_schema_extra={"examples": [EXAMPLE_BODY]})

    name: str = Field(pattern=NAME_PATTERN, description="Unique display name.")
    scope: dict[str, ScopeValues] = Field(
        default_factory=dict,
        max_length=12,
        description=f"Breakdown filters, {{dimension: [values]}}; empty: all spend. Dimensions: {known_dimensions()}. "
        "A provider is named by its id, WedCloud name, FOCUS ProviderName or cloud (aws, azure, gcp) and stored as "
        "the costs know it: its FOCUS ProviderName, or a registered provider's id.",
    )
    amount: str = Field(
        pattern=AMOUNT_PATTERN, description="Decimal string greater than 0 (12 digits, 6 decimals), in `currency`."
    )
    currency: str = Field(
        description="ISO 4217; only spend billed in it counts (currencies are never converted).",
        json_schema_extra=CURRENCY_SCHEMA,
    )
    period: Literal["month", "quarter", "year"] = "month"
    thresholds: Thresholds = Field(default_factory=Thresholds)
    targets: list[Target] = Field(default_factory=list, max_length=20, description="Where alerts are sent.")
    notes: str | None = Field(default=None, max_length=2000)

    _scope = field_validator("scope")(_check_scope)
    _amount = field_validator("amount")(_check_amount)
    _currency = field_validator("currency")(_check_currency)


class BudgetUpdate(BaseModel):
    """Fields to change; the others stay as they are. `notes: null` clears the notes."""

    model_config = ConfigDict(
        extra="forbid", json_schema_extra={"examples": [{"amount": "1800.00", "thresholds": {"actual": [80, 100]}}]}
    )

    name: str | None = Field(default=None, pattern=NAME_PATTERN)
    scope: dict[str, ScopeValues] | None = Field(default=None, max_length=12)
    amount: str | None = Field(default=None, pattern=AMOUNT_PATTERN)
    currency: str | None = Field(default=None, json_schema_extra=CURRENCY_SCHEMA)
    period: Literal["month", "quarter", "year"] | None = None
    thresholds: Thresholds | None = None
    targets: list[Target] | None = Field(default=None, max_length=20)
    notes: str | None = Field(default=None, max_length=2000)

    _scope = field_validator("scope")(_check_scope)
    _amount = field_validator("amount")(_check_amount)
    _currency = field_validator("currency")(_check_currency)


# -- answers -------------------------------------------------------------------------------------
class ThresholdOut(BaseModel):
    kind: Literal["actual", "forecast"]
    percent: int
    amount: str = Field(description="What the percent stands for, in the budget's currency.")
    crossed: bool = Field(description="actual: spend to date reached it; forecast: the period-end forecast does.")
    crosses_on: date | None = Field(description="The day spend (actual, then forecast) reaches it; null: never.")


EXAMPLE_STATUS: dict[str, Any] = {
    "state": "at_risk",
    "period_start": "2026-11-01",
    "period_end": "2026-11-30",
    "data_through": "2026-11-26",
    "spent": "1310.40",
    "forecast": "1512.10",
    "forecast_method": "cost_forecast_share",
    "forecast_left_out": ["2026-11-10", "2026-11-11", "2026-11-12"],
    "percent_used": "87.36",
    "forecast_percent": "100.81",
    "thresholds": [
        {"kind": "actual", "percent": 50, "amount": "750.00", "crossed": True, "crosses_on": "2026-11-14"},
        {"kind": "actual", "percent": 80, "amount": "1200.00", "crossed": True, "crosses_on": "2026-11-24"},
        {"kind": "actual", "percent": 100, "amount": "1500.00", "crossed": False, "crosses_on": "2026-11-30"},
        {"kind": "forecast", "percent": 100, "amount": "1500.00", "crossed": True, "crosses_on": "2026-11-30"},
    ],
    "snapshot_version": "20261127T030000000000Z",
}


class StatusOut(BaseModel):
    model_config = ConfigDict(json_schema_extra={"examples": [EXAMPLE_STATUS]})

    state: Literal["ok", "at_risk", "exceeded"] = Field(description="exceeded: spent it; at_risk: forecast to.")
    period_start: date
    period_end: date
    data_through: date = Field(description="The latest day with cost data; the period is the one holding it.")
    spent: str = Field(description="Spend in the period to date, in the budget's currency, rounded to cents.")
    forecast: str = Field(description="Spend to date plus the forecast of the period's remaining days.")
    forecast_method: Literal["cost_forecast", "cost_forecast_share", "run_rate", "complete"] = Field(
        description="cost_forecast: the scope's own forecast; cost_forecast_share: its share of the last 28 days "
        "applied to the total's forecast; run_rate: its average daily spend over the last 28 days "
        "(snapshots without forecasts); complete: the period has no days left."
    )
    forecast_left_out: list[date] = Field(
        default_factory=list,
        description="Days of the last 28 that the share or run rate left out: the days of cost anomalies that "
        "ended before data_through (one still going on is kept).",
    )
    percent_used: str
    forecast_percent: str
    thresholds: list[ThresholdOut]
    snapshot_version: str


class BudgetOut(BaseModel):
    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {**EXAMPLE_BODY, "id": "5d0c8a4e-3c57-4d0e-9a55-0b8f3c7d2e11", "created_at": "2026-11-02T09:00:00Z",
                 "targets": [{"type": "webhook", "url": "https://hooks.example.com/finops"}], "status": EXAMPLE_STATUS}
            ]
        }
    )  # fmt: skip

    id: uuid.UUID
    name: str
    scope: dict[str, list[str]]
    amount: str
    currency: str
    period: str
    thresholds: Thresholds
    targets: list[Target]
    notes: str | None
    created_at: datetime
    status: StatusOut | None = Field(description="Null when no snapshot is published or the scope cannot be read.")
    webhook_secret: str | None = Field(
        default=None,
        description="The secret webhook deliveries are signed with (Standard Webhooks, `whsec_...`): only in the "
        "answer that made it (the first webhook target); later, POST .../webhook-secret makes a new one.",
    )


class WebhookSecretOut(BaseModel):
    model_config = ConfigDict(
        json_schema_extra={
            "examples": [{"budget_id": "5d0c8a4e-3c57-4d0e-9a55-0b8f3c7d2e11",
                          "secret": "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw", "scheme": "Standard Webhooks v1"}]
        }
    )  # fmt: skip

    budget_id: uuid.UUID
    secret: str = Field(description="Shown once. Deliveries from now on are signed with it; the old one is gone.")
    scheme: str = Field(
        description="webhook-signature is `v1,` + base64 HMAC-SHA256 of `webhook-id.webhook-timestamp.body` under "
        "the base64-decoded part of the secret after `whsec_`."
    )


class DeliveryOut(BaseModel):
    channel: Literal["webhook", "email"]
    target: str
    attempt: int
    status_code: int | None
    error: str | None
    delivered: bool
    attempted_at: datetime
    next_attempt_at: datetime | None = Field(description="When the next attempt was due; null after the last.")


class AlertOut(BaseModel):
    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "id": "9e1f7b0c-8c9d-4bb4-a3f1-6c7c2d9e0a42",
                    "kind": "budget",
                    "key": "budget:5d0c8a4e-3c57-4d0e-9a55-0b8f3c7d2e11:2026-11-01:actual:80",
                    "title": "Bookings team monthly: spend reached 80% of 1500.00 USD (2026-11-01 to 2026-11-30)",
                    "severity": "warning",
                    "status": "delivered",
                    "detail": {"spent": "1310.40", "threshold": 80, "kind": "actual"},
                    "created_at": "2026-11-27T03:01:00Z",
                    "deliveries": [
                        {"channel": "webhook", "target": "https://hooks.example.com/finops", "attempt": 1,
                         "status_code": 503, "error": "HTTP 503 Service Unavailable", "delivered": False,
                         "attempted_at": "2026-11-27T03:01:00Z", "next_attempt_at": "2026-11-27T03:01:01Z"},
                        {"channel": "webhook", "target": "https://hooks.example.com/finops", "attempt": 2,
                         "status_code": 200, "error": None, "delivered": True,
                         "attempted_at": "2026-11-27T03:01:01Z", "next_attempt_at": None},
                    ],
                }
            ]
        }
    )  # fmt: skip

    id: uuid.UUID
    kind: str
    key: str
    title: str
    severity: Literal["info", "warning", "critical"]
    status: str = Field(description="pending, delivered, failed (a target never took it) or no_targets.")
    detail: dict[str, Any]
    created_at: datetime
    deliveries: list[DeliveryOut]
