"""Plans: what an apply changes, as a graph of steps.

``plan`` compares a rendered template with the resources a deployment holds now and gives one
step per logical resource that changes:

- ``create``: not held yet;
- ``update``: held, and only what a cloud changes in place differs: the size, the tags, a
  group's desired capacity (and the protected or retain flags, which change no cloud);
- ``replace``: held, but something a cloud cannot change in place differs (provider, type,
  region, image, network, another option; an instance group's size where the cloud sets it in a
  launch template). The new resource is made beside the old one
  (``-r<n>`` in its name), and the old one is removed by a ``retire`` step at the end;
- ``delete``: held, and gone from the template.

Each step depends on the steps of the resources it depends on. Creates, updates and replaces
run first, in dependency order; deletions and retirements run last, dependents before what they
depend on, so a failure before them has removed nothing. A destroy is deletions only.
"""

from __future__ import annotations

import uuid
from dataclasses import asdict, dataclass, field, fields
from decimal import Decimal
from typing import Any

from control_plane.deployments.spec import ATTRIBUTES, DesiredResource, Rendered
from control_plane.deployments.template_refs import resolve
from control_plane.store.deployment_models import DeploymentResource

UPDATABLE_OPTIONS = ("desired",)  # options a cloud changes in place (a group's capacity)
FLAGS = ("protected", "retain")
# clouds whose adapter changes an instance group's instance type in place (elsewhere: a new group)
GROUPS_RESIZED = ("sandbox",)  # kept by WedCloud, no cloud call
COUNTED = ("create", "update", "replace", "delete")
UNKNOWN = "(known after apply)"


def desired_json(desired: DesiredResource) -> dict[str, Any]:
    body = asdict(desired)
    body["provider_id"] = str(desired.provider_id)
    body["depends_on"] = list(desired.depends_on)
    return body


FIELDS = tuple(f.name for f in fields(DesiredResource))


def desired_from_json(body: dict[str, Any]) -> DesiredResource:
    """The resource ``desired_json`` wrote (other keys beside it, such as a step's result, are ignored)."""
    known = {k: v for k, v in body.items() if k in FIELDS}
    return DesiredResource(
        **{**known, "provider_id": uuid.UUID(str(body["provider_id"])), "depends_on": tuple(body.get("depends_on", ()))}
    )


def held_json(row: DeploymentResource) -> dict[str, Any]:
    """What a deployment holds of one logical resource (a step's ``before``)."""
    return {
        "provider_id": str(row.provider_id),
        "resource_id": str(row.resource_id) if row.resource_id else None,
        "cloud_id": row.cloud_id,
        "subtype": row.subtype,
        "region": row.region,
        "size": row.size,
        "tags": dict(row.tags),
        "spec": dict(row.spec),
        "attributes": dict(row.attributes),
        "version": row.version,
        "monthly_estimate": str(row.monthly_estimate) if row.monthly_estimate is not None else None,
        "currency": row.currency,
    }


@dataclass
class PlanStep:
    seq: int
    name: str  # the logical resource
    action: str  # create | update | replace | delete | retire
    depends_on: list[int] = field(default_factory=list)
    changes: list[str] = field(default_factory=list)
    before: dict[str, Any] | None = None  # held_json of what it changes
    after: dict[str, Any] | None = None  # desired_json of what it makes it
    monthly_estimate: str | None = None


@dataclass
class Plan:
    steps: list[PlanStep]
    unchanged: list[str]
    monthly_total: Decimal | None = None
    currency: str | None = None

    def summary(self) -> dict[str, int]:
        counts = {action: sum(1 for s in self.steps if s.action == action) for action in COUNTED}
        return {**counts, "unchanged": len(self.unchanged)}

    def as_json(self) -> dict[str, Any]:
        total = None if self.monthly_total is None else str(self.monthly_total)
        return {
            "steps": [asdict(step) for step in self.steps],
            "summary": self.summary(),
            "unchanged": self.unchanged,
            "monthly_estimate": {"total": total, "currency": self.currency},
        }


def _differences(
    desired: DesiredResource, row: DeploymentResource, held: dict[str, dict[str, str]]
) -> tuple[list[str], list[str]]:
    """(changes made in place, changes that need a new resource). ``desired``'s references are
    read from what is held now; one to a resource made anew in this apply reads UNKNOWN, which
    differs from any value held."""
    spec = row.spec
    expected = _expected(desired, held)
    replace_reasons = []
    if str(desired.provider_id) != str(row.provider_id):
        replace_reasons.append("provider")
    for name, now, then in (
        ("type", desired.type, spec.get("type")),
        ("region", desired.region, row.region),
        ("image", expected.image, spec.get("image")),
        ("network", expected.network, spec.get("network")),
    ):
        if now != then:
            replace_reasons.append(f"{name}: {then} -> {now}")
    options, old_options = dict(expected.options), dict(spec.get("options", {}))
    for key in sorted(set(options) | set(old_options)):
        if key not in UPDATABLE_OPTIONS and options.get(key) != old_options.get(key):
            replace_reasons.append(f"options.{key}: {old_options.get(key)} -> {options.get(key)}")
    in_place = []
    if desired.size != row.size and desired.type == "instance_group" and desired.provider_kind not in GROUPS_RESIZED:
        replace_reasons.append(f"size: {row.size} -> {desired.size} (a new group: this cloud sets a group's "
                               "instance type in its launch template)")  # fmt: skip
    elif desired.size != row.size:
        in_place.append(f"size: {row.size} -> {desired.size}")
    for key in UPDATABLE_OPTIONS:
        if options.get(key) != old_options.get(key):
            in_place.append(f"options.{key}: {old_options.get(key)} -> {options.get(key)}")
    for key in sorted(set(expected.tags) | set(row.tags)):
        if expected.tags.get(key) != row.tags.get(key):
            in_place.append(f"tags.{key}: {row.tags.get(key)} -> {expected.tags.get(key)}")
    for flag in FLAGS:
        if getattr(desired, flag) != spec.get(flag, getattr(desired, flag)):
            in_place.append(f"{flag}: {spec.get(flag)} -> {getattr(desired, flag)}")
    return in_place, replace_reasons


def _expected(desired: DesiredResource, held: dict[str, dict[str, str]]) -> DesiredResource:
    """``desired`` with its references read from ``held``; those it cannot read are UNKNOWN."""
    unknown = {name: dict.fromkeys(ATTRIBUTES, UNKNOWN) for name in desired.depends_on if name not in held}
    return resolve(desired, {**unknown, **held})


def plan(rendered: Rendered, rows: list[DeploymentResource]) -> Plan:
    """The steps that take a deployment holding ``rows`` to ``rendered``."""
    held_rows = {row.logical_name: row for row in rows}
    steps: list[PlanStep] = []
    by_name: dict[str, int] = {}
    unchanged: list[str] = []
    moving: set[str] = set()  # resources made anew in this apply: references to them are unknown until then
    for name, desired in rendered.resources.items():
        row = held_rows.get(name)
        # what its references read: what it depends on, as held now (not what this apply makes anew)
        visible = {d: dict(held_rows[d].attributes) for d in desired.depends_on if d in held_rows and d not in moving}
        if row is None:
            action, changes = "create", []
        else:
            in_place, replace_reasons = _differences(desired, row, visible)
            if replace_reasons:
                action, changes = "replace", replace_reasons + in_place
            elif in_place:
                action, changes = "update", in_place
            else:
                unchanged.append(name)
                continue
        if action in ("create", "replace"):
            moving.add(name)
        estimate = rendered.estimates.get(name)
        seq = len(steps)
        depends = sorted(by_name[d] for d in desired.depends_on if d in by_name)
        steps.append(
            PlanStep(
                seq=seq,
                name=name,
                action=action,
                depends_on=depends,
                changes=changes,
                before=held_json(row) if row is not None else None,
                after=desired_json(desired),
                monthly_estimate=str(estimate.monthly) if estimate and estimate.monthly is not None else None,
            )
        )
        by_name[name] = seq
    removals = [(name, "delete") for name in held_rows if name not in rendered.resources]
    removals += [(s.name, "retire") for s in steps if s.action == "replace"]
    steps.extend(_removal_steps(removals, held_rows, first_seq=len(steps)))
    total, currency = _total(rendered)
    return Plan(steps=steps, unchanged=unchanged, monthly_total=total, currency=currency)


def plan_destroy(rows: list[DeploymentResource]) -> Plan:
    held = {row.logical_name: row for row in rows}
    return Plan(steps=_removal_steps([(name, "delete") for name in held], held, first_seq=0), unchanged=[])


def _removal_steps(
    removals: list[tuple[str, str]], held: dict[str, DeploymentResource], *, first_seq: int
) -> list[PlanStep]:
    """Deletions and retirements, after every other step: a resource goes only after each
    removed resource that depended on it (as its spec said when it was made)."""
    ordered = _dependents_first([name for name, _ in removals], held)
    actions = dict(removals)
    steps: list[PlanStep] = []
    for name in ordered:
        seq = first_seq + len(steps)
        dependents = [s.seq for s in steps if name in held[s.name].spec.get("depends_on", ())]
        before_removals = list(range(first_seq))  # every create, update and replace first
        steps.append(
            PlanStep(
                seq=seq,
                name=name,
                action=actions[name],
                depends_on=sorted(set(before_removals + dependents)),
                changes=["retired: replaced by a new resource"] if actions[name] == "retire" else [],
                before=held_json(held[name]),
            )
        )
    return steps


def _dependents_first(names: list[str], held: dict[str, DeploymentResource]) -> list[str]:
    """``names`` ordered so that a resource comes after every one of them that depends on it."""
    remaining, ordered = sorted(names), []
    while remaining:
        ready = [n for n in remaining if not any(n in held[m].spec.get("depends_on", ()) for m in remaining if m != n)]
        chosen = ready[0] if ready else remaining[0]  # a cycle cannot be held; be safe anyway
        ordered.append(chosen)
        remaining.remove(chosen)
    return ordered


def _total(rendered: Rendered) -> tuple[Decimal | None, str | None]:
    known = [e for e in rendered.estimates.values() if e.monthly is not None]
    if not known:
        return None, None
    return sum((e.monthly for e in known if e.monthly is not None), Decimal("0")), known[0].currency
