"""The shapes every part of the deployment engine speaks: a problem with its JSON pointer, a
template's resources once rendered against its parameters and the registered providers, and
the references still to resolve when the resources they name exist.

``template`` makes :class:`Rendered` from a document and parameters (or a list of
:class:`TemplateProblem`); ``planning`` diffs it against what a deployment holds into a plan;
``engine`` applies the plan step by step.
"""

from __future__ import annotations

import re
import uuid
from collections.abc import Mapping
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

from clouds.base import ResourceType

# template ``type`` -> (resource type, subtype): what a template may ask for
TYPES: dict[str, tuple[ResourceType, str]] = {
    "instance": (ResourceType.COMPUTE, "instance"),
    "instance_group": (ResourceType.COMPUTE, "instance_group"),
    "volume": (ResourceType.STORAGE, "volume"),
    "bucket": (ResourceType.STORAGE, "bucket"),
    "database": (ResourceType.DATABASE, "database"),
}
ON_FAILURE = ("rollback", "pause")
RETAIN = ("snapshot", "delete")
# what ``${resources.<name>.<attribute>}`` may read of a made resource
ATTRIBUTES = ("id", "name", "region", "size", "zone", "endpoint", "account_id")
REFERENCE = re.compile(r"\$\{([^}]*)\}")
DEPLOYMENT_TAG, VERSION_TAG = "wedcloud:deployment", "wedcloud:deployment-version"
HOURS_PER_MONTH = Decimal("730")  # the monthly estimate's hours, as the clouds' calculators use


@dataclass(frozen=True)
class TemplateProblem:
    """Why a template cannot work: ``pointer`` is an RFC 6901 JSON pointer into the request body
    (``/template/resources/db/size``, ``/parameters/env``), ``message`` what it needs."""

    pointer: str
    message: str

    def as_error(self) -> dict[str, str]:
        return {"pointer": self.pointer, "message": self.message}


@dataclass(frozen=True)
class DesiredResource:
    """One logical resource of a rendered template: everything but references to other
    resources is known. ``pending`` maps a field path (``tags.db``, ``options.endpoint``,
    ``image``, ``network``) to its text with ``${resources.x.y}`` references still in it; the
    engine substitutes them when the resources they name are made (``template.resolve``)."""

    name: str
    provider_id: uuid.UUID
    provider_kind: str
    type: str  # a key of TYPES
    region: str
    size: str
    tags: Mapping[str, str] = field(default_factory=dict)
    image: str | None = None
    network: str | None = None
    options: Mapping[str, Any] = field(default_factory=dict)
    depends_on: tuple[str, ...] = ()  # explicit depends_on and every resource it references
    protected: bool = False
    retain: str = "delete"  # "snapshot": snapshot before deleting (a database or a volume)
    pending: Mapping[str, str] = field(default_factory=dict)

    @property
    def resource_type(self) -> ResourceType:
        return TYPES[self.type][0]

    @property
    def subtype(self) -> str:
        return TYPES[self.type][1]


@dataclass(frozen=True)
class Estimate:
    """A resource's monthly cost from the price catalogue (None: the catalogue has no price;
    ``basis`` says how it was reckoned or why there is none)."""

    monthly: Decimal | None
    currency: str
    basis: str


@dataclass(frozen=True)
class Rendered:
    """A template rendered against its parameters: resources in dependency order."""

    resources: dict[str, DesiredResource]  # logical name -> resource, dependencies first
    outputs: dict[str, str]  # name -> text, with ${resources...} references still in it
    parameters: dict[str, Any]  # every parameter's value (defaults filled in)
    on_failure: str = "rollback"
    environment: str | None = None  # parameters.env / parameters.environment, else the tag
    estimates: dict[str, Estimate] = field(default_factory=dict)
