"""Monitoring alert rules: what each kind watches, how a rule is stored, and the built-in ones.

A rule is one of seven kinds (docs/monitoring/alerts.md):

- ``threshold``: a metric of the selected resources, aggregated over ``window``, compared
  with a threshold (``>``, ``>=``, ``<``, ``<=``, ``==``, ``!=``);
- ``absence``: a selected resource with no sample for ``minutes``;
- ``provider_unreachable``: the collector's last ``failures`` attempts at a provider failed;
- ``budget_forecast``: a budget's period-end forecast at or above ``percent`` of its amount;
- ``cost_anomaly``: a cost anomaly of the serving snapshot that is still recent;
- ``drift``: a deployment (any, or ``deployment_id``) whose last drift check found drift;
- ``disaster_recovery``: a disaster-recovery plan (any, or ``plan_id``) past its RPO target or
  without a usable backup, left degraded by a failover, or failing its health checks.

``spec`` holds the kind's fields with durations in seconds and providers as registered ids,
with ``for`` and ``hold`` (how long a firing alert's condition must stay clear before it
resolves); ``grouping`` holds Alertmanager's group_by, group_wait, group_interval and
repeat_interval, in seconds.
"""

from __future__ import annotations

import json
import re
import uuid
from datetime import timedelta
from typing import Any

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from control_plane.crypto import Cipher
from control_plane.monitoring import routes as route_rules
from control_plane.pagination import page_of, seek
from control_plane.services.errors import Conflict, InvalidRequest, NotFound
from control_plane.services.provider_filters import select_providers
from control_plane.store.deployment_models import Deployment
from control_plane.store.models import Budget, Resource
from control_plane.store.monitoring_models import METRICS, AlertRule
from control_plane.store.recovery_models import RecoveryPlan
from wedcloud.sqltypes import utcnow

KINDS = ("threshold", "absence", "provider_unreachable", "budget_forecast", "cost_anomaly", "drift",
         "disaster_recovery")  # fmt: skip
SEVERITIES = ("critical", "warning", "info")
COMPARATORS = (">", ">=", "<", "<=", "==", "!=")
GROUPING_DEFAULTS: dict[str, Any] = {"group_by": ["alertname"], "group_wait": 30.0, "group_interval": 300.0,
                                     "repeat_interval": 14400.0}  # fmt: skip
DEFAULT_HOLD = 60.0
BUILTIN_NAME = "provider-unreachable"
RECOVERY_BUILTIN_NAME = "disaster-recovery"
_DURATION = re.compile(r"^(?:(\d+(?:\.\d+)?)d)?(?:(\d+(?:\.\d+)?)h)?(?:(\d+(?:\.\d+)?)m)?(?:(\d+(?:\.\d+)?)s)?$")


def parse_duration(value: Any) -> float:
    """Seconds from a number of seconds or a string such as ``90``, ``30s``, ``5m``, ``1h30m``
    or ``1d``; ValueError for anything else, or a negative duration."""
    if isinstance(value, bool):
        raise ValueError("a duration: seconds, or a string such as '30s', '5m', '1h'")
    if isinstance(value, int | float):
        seconds = float(value)
    elif isinstance(value, str):
        text = value.strip()
        if text.lstrip("-").replace(".", "", 1).isdigit():
            seconds = float(text)
        else:
            match = _DURATION.match(text)
            if not text or match is None:
                raise ValueError(f"{value!r} is not a duration: use seconds or e.g. '30s', '5m', '1h30m', '1d'")
            days, hours, minutes, secs = (float(part) if part else 0.0 for part in match.groups())
            seconds = days * 86400 + hours * 3600 + minutes * 60 + secs
    else:
        raise ValueError("a duration: seconds, or a string such as '30s', '5m', '1h'")
    if seconds != seconds or seconds < 0:
        raise ValueError("must not be negative")
    if seconds > 366 * 86400:
        raise ValueError("at most a year")
    return seconds


def _invalid(field: str, message: str) -> InvalidRequest:
    return InvalidRequest(f"{field}: {message}", errors=[{"location": "body", "field": field, "message": message}])


# -- checking what a request asked for ----------------------------------------------------------
def resolve_selector(session: Session, selector: dict[str, Any] | None) -> dict[str, Any]:
    """A selector as stored: providers by registered id (any name the API accepts resolves,
    an unknown one is a 422 naming ``selector.provider``), resource ids that exist, tags."""
    selector = selector or {}
    stored: dict[str, Any] = {"provider": [], "resources": [], "tags": dict(selector.get("tags") or {})}
    if selector.get("provider"):
        chosen = select_providers(session, list(selector["provider"]), field="selector.provider", location="body")
        stored["provider"] = sorted(chosen.keys)
    resources = [uuid.UUID(str(r)) for r in selector.get("resources") or []]
    if resources:
        known = set(session.scalars(select(Resource.id).where(Resource.id.in_(resources))))
        for index, resource_id in enumerate(resources):
            if resource_id not in known:
                raise _invalid(f"selector.resources.{index}", f"no resource has the id {resource_id}")
        stored["resources"] = sorted(str(r) for r in resources)
    return stored


def check_spec(session: Session, kind: str, spec: dict[str, Any]) -> dict[str, Any]:
    """The kind's fields as stored (the schema has checked their shapes): selectors resolved,
    a budget that exists."""
    spec = dict(spec)
    if "selector" in spec or kind in ("threshold", "absence", "provider_unreachable"):
        spec["selector"] = resolve_selector(session, spec.get("selector"))
    if kind == "threshold" and spec["metric"] not in METRICS:  # the schema refuses it first
        raise _invalid("metric", f"one of {', '.join(METRICS)}")
    if kind == "budget_forecast" and session.get(Budget, uuid.UUID(str(spec["budget_id"]))) is None:
        raise _invalid("budget_id", f"no budget has the id {spec['budget_id']}")
    if kind == "budget_forecast":
        spec["budget_id"] = str(spec["budget_id"])
    if kind == "drift" and spec.get("deployment_id") is not None:
        if session.get(Deployment, uuid.UUID(str(spec["deployment_id"]))) is None:
            raise _invalid("deployment_id", f"no deployment has the id {spec['deployment_id']}")
        spec["deployment_id"] = str(spec["deployment_id"])
    if kind == "disaster_recovery" and spec.get("plan_id") is not None:
        if session.get(RecoveryPlan, uuid.UUID(str(spec["plan_id"]))) is None:
            raise _invalid("plan_id", f"no disaster-recovery plan has the id {spec['plan_id']}")
        spec["plan_id"] = str(spec["plan_id"])
    return spec


def check_routes(routes: list[dict[str, Any]]) -> None:
    found = route_rules.problems(routes)
    if found:
        raise InvalidRequest(
            "; ".join(f"{field}: {message}" for field, message in found),
            errors=[{"location": "body", "field": field, "message": message} for field, message in found],
        )


# -- storing -------------------------------------------------------------------------------------
def get_rule(session: Session, rule_id: uuid.UUID) -> AlertRule:
    rule = session.get(AlertRule, rule_id)
    if rule is None:
        raise NotFound(f"no alert rule has the id {rule_id}")
    return rule


def _check_name_free(session: Session, name: str, rule_id: uuid.UUID | None = None) -> None:
    other = session.scalar(select(AlertRule.id).where(AlertRule.name == name))
    if other is not None and other != rule_id:
        raise Conflict(f"an alert rule named {name!r} already exists", rule_id=str(other))


def _keep_sealed(old: list[dict[str, Any]], new: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Routes sent back as GET showed them (a masked URL) keep their sealed URL."""
    kept = []
    for route in new:
        same = next((o for o in old if o.get("type") == route.get("type") and "sealed" in o
                     and o.get("url") == route.get("url")), None)  # fmt: skip
        kept.append(same if same is not None else route)
    return kept


def save_rule(
    session: Session,
    fields: dict[str, Any],
    cipher: Cipher,
    *,
    rule: AlertRule | None = None,
    actor: str | None = None,
) -> tuple[AlertRule, str | None]:
    """Create ``rule`` (None) or replace its fields; returns it and a new webhook signing
    secret when one was made (shown once)."""
    spec = check_spec(session, fields["kind"], fields["spec"])
    routes = _keep_sealed(rule.routes if rule is not None else [], list(fields.get("routes") or []))
    check_routes([r for r in routes if "sealed" not in r])
    _check_name_free(session, fields["name"], rule.id if rule is not None else None)
    if rule is None:
        rule = AlertRule(id=uuid.uuid4(), created_by=actor)
    grouping = {**GROUPING_DEFAULTS, **(fields.get("grouping") or {})}
    spec["hold"] = float(fields.get("hold", DEFAULT_HOLD))
    rule.name, rule.kind, rule.spec, rule.severity = fields["name"], fields["kind"], spec, fields["severity"]
    rule.labels, rule.annotations = dict(fields.get("labels") or {}), dict(fields.get("annotations") or {})
    rule.grouping, rule.enabled = grouping, bool(fields.get("enabled", True))
    rule.routes = route_rules.seal(rule.id, routes, cipher)
    secret = None
    if any(r.get("type") == "webhook" for r in routes) and rule.signing_secret_ciphertext is None:
        secret, rule.signing_secret_ciphertext = route_rules.make_secret(rule.id, cipher)
    try:
        with session.begin_nested():
            session.add(rule)
            session.flush()
    except IntegrityError:  # a concurrent request took the name
        raise Conflict(f"an alert rule named {fields['name']!r} already exists") from None
    return rule, secret


def delete_rule(session: Session, rule: AlertRule) -> None:
    session.delete(rule)
    session.flush()


def list_rules(
    session: Session, *, limit: int, cursor: str | None, kind: str | None = None, enabled: bool | None = None
) -> tuple[list[AlertRule], str | None]:
    query = select(AlertRule)
    if kind is not None:
        query = query.where(AlertRule.kind == kind)
    if enabled is not None:
        query = query.where(AlertRule.enabled == enabled)
    rows = list(session.scalars(seek(query, AlertRule.name, AlertRule.id, limit=limit, cursor=cursor)))
    return page_of(rows, limit, lambda r: r.name)


def hold_of(rule: AlertRule) -> timedelta:
    return timedelta(seconds=float(rule.spec.get("hold", DEFAULT_HOLD)))


def for_of(rule: AlertRule) -> timedelta:
    return timedelta(seconds=float(rule.spec.get("for", 0)))


def rule_view(rule: AlertRule) -> dict[str, Any]:
    """A rule as the API shows it: route URLs masked, durations in seconds."""
    grouping = {**GROUPING_DEFAULTS, **(rule.grouping or {})}
    hold = rule.spec.get("hold", DEFAULT_HOLD)
    return {
        "id": rule.id, "name": rule.name, "kind": rule.kind, "severity": rule.severity, **rule.spec,
        "labels": rule.labels, "annotations": rule.annotations,
        "routes": [route_rules.shown(r) for r in rule.routes], "grouping": grouping, "hold": hold,
        "enabled": rule.enabled, "has_signing_secret": rule.signing_secret_ciphertext is not None,
        "created_by": rule.created_by, "created_at": rule.created_at, "updated_at": rule.updated_at,
    }  # fmt: skip


def ensure_builtin(session: Session) -> list[AlertRule]:
    """The built-in rules, each made the first time rules are evaluated when no rule of its kind
    exists (returns those made now). They can be changed, disabled or deleted; one is not made
    again while any rule of its kind exists.

    - ``provider-unreachable``: a provider whose last collection failed raises a critical alert
      at once (``for`` 0), resolved once collection has succeeded for a minute.
    - ``disaster-recovery``, made once a disaster-recovery plan exists: a plan past its RPO
      target or without a usable backup, degraded by a failover, or failing its health checks
      raises a critical alert at once, resolved a minute after the problem is gone."""
    made = [_builtin(session, BUILTIN_NAME, "provider_unreachable", {
        "spec": {"selector": {"provider": [], "resources": [], "tags": {}}, "failures": 1, "for": 0.0,
                 "hold": DEFAULT_HOLD},
        "annotations": {"summary": "WedCloud cannot reach provider {provider}: the metrics collection failed"},
        "grouping": {**GROUPING_DEFAULTS, "group_by": ["alertname", "provider"]},
    })]  # fmt: skip
    if session.scalar(select(RecoveryPlan.id).limit(1)) is not None:
        made.append(_builtin(session, RECOVERY_BUILTIN_NAME, "disaster_recovery", {
            "spec": {"plan_id": None, "for": 0.0, "hold": DEFAULT_HOLD},
            "annotations": {"summary": "Disaster-recovery plan {plan} needs attention ({problem}): "
                            "see GET /api/cloud/disaster-recovery/status"},
            "grouping": {**GROUPING_DEFAULTS, "group_by": ["alertname", "plan"]},
        }))  # fmt: skip
    return [rule for rule in made if rule is not None]


def _builtin(session: Session, name: str, kind: str, fields: dict[str, Any]) -> AlertRule | None:
    if session.scalar(select(AlertRule.id).where(AlertRule.kind == kind).limit(1)) is not None:
        return None
    if session.scalar(select(AlertRule.id).where(AlertRule.name == name)) is not None:
        return None
    rule = AlertRule(name=name, kind=kind, severity="critical", created_by="system", labels={}, routes=[],
                     enabled=True, created_at=utcnow(), **fields)  # fmt: skip
    try:
        with session.begin_nested():
            session.add(rule)
            session.flush()
    except IntegrityError:  # a concurrent evaluator made it
        return None
    return rule


def jsonable(value: Any) -> Any:
    """``value`` as plain JSON (ids and times as text), as audit rows and events keep it."""
    return json.loads(json.dumps(value, default=str))
