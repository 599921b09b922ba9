"""Deployment templates: read (YAML or JSON), checked and rendered against their parameters and
the registered providers.

:func:`load_document` parses a template; :func:`render` checks it whole (its shape, parameters,
providers and regions, types, references and cycles, and each provider's own rules) and turns it
into :class:`~control_plane.deployments.spec.Rendered`, its resources in dependency order, or
lists every problem with a JSON pointer into the request body (``/template/resources/db/size``,
``/parameters/env``). :func:`resolve` and :func:`resolve_outputs` fill in the
``${resources.<name>.<attribute>}`` references once the resources they name exist.
The format is documented in :data:`SCHEMA` and docs/templates/README.md.
"""

from __future__ import annotations

import contextlib
import re
import uuid
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from control_plane.deployments.references import UnresolvedReference, attributes_of
from control_plane.deployments.references import cloud_name as engine_cloud_name
from control_plane.deployments.spec import ON_FAILURE, RETAIN, TYPES, DesiredResource, Rendered, TemplateProblem
from control_plane.deployments.template_graph import cycles, dependency_order
from control_plane.deployments.template_load import MAX_DEPTH, MAX_DOCUMENT_BYTES, TEMPLATE, load_document
from control_plane.deployments.template_params import parameter_values
from control_plane.deployments.template_refs import Expander, as_text, pending_fields, pointer, resolve, resolve_outputs
from control_plane.deployments.template_schema import NAME_PATTERN, SCHEMA
from control_plane.services.errors import InvalidRequest
from control_plane.services.resources import ProvisionSpec, check_spec
from control_plane.store.models import Provider

__all__ = [
    "MAX_DEPTH", "MAX_DOCUMENT_BYTES", "SCHEMA", "UnresolvedReference", "attributes_of", "cloud_name", "load_document",
    "render", "resolve", "resolve_outputs",
]  # fmt: skip

TOP_KEYS = ("description", "on_failure", "parameters", "resources", "outputs")
RESOURCE_KEYS = ("provider", "type", "region", "size", "tags", "options", "image", "network", "depends_on",
                 "protected", "retain")  # fmt: skip
LOGICAL_NAME = re.compile(NAME_PATTERN)
SNAPSHOTTED = ("database", "volume")
# a provider rule's field -> the resource's key it points at ("" : the resource itself)
_FIELD_KEYS = {"name": "", "type": "type", "subtype": "type", "region": "region", "size": "size",
               "options": "options", "image": "image", "network": "network", "tags": "tags"}  # fmt: skip


RESERVED_TAG_PREFIX = "wedcloud:"  # the engine's attribution tags and the adapters' client tokens


def cloud_name(deployment_name: str | None, logical: str) -> str:
    """The name a resource gets in its cloud, as the engine names it (``references.cloud_name``):
    ``<deployment>-<logical>`` in lowercase letters, digits and '-', at most 63 characters;
    without a deployment name, the logical name so written."""
    return engine_cloud_name(deployment_name or "", logical)


# -- rendering ----------------------------------------------------------------------------------
def _provider_lookup(session: Session, wanted: set[str]) -> dict[str, Provider]:
    """Registered providers by name and by id (as text), for the names and ids ``wanted``."""
    ids = []
    for text in wanted:
        with contextlib.suppress(ValueError):
            ids.append(uuid.UUID(text))
    query = select(Provider).where(Provider.name.in_(sorted(wanted)) | Provider.id.in_(ids))
    found: dict[str, Provider] = {}
    for provider in session.scalars(query):
        found[provider.name] = provider
        found[str(provider.id)] = provider
    return found


class _Renderer:
    def __init__(self, session: Session, document: dict[str, Any], parameters: Any, deployment_name: str | None):
        self.session, self.document, self.deployment_name = session, document, deployment_name
        self.problems: list[tuple[str, str]] = []
        resources = document.get("resources")
        self.bodies: dict[str, Any] = resources if isinstance(resources, dict) else {}
        self.values, found = parameter_values(document.get("parameters"), parameters)
        self.problems += found
        declared = document.get("parameters")
        self.expander = Expander(self.values, set(self.bodies), set(declared) if isinstance(declared, dict) else None)
        self.dependencies: dict[str, set[str]] = {}
        self.desired: dict[str, DesiredResource] = {}

    def problem(self, at: str, message: str) -> None:
        if at not in self.expander.unresolved:  # else: the parameter it uses has the problem
            self.problems.append((at, message))

    def uses_unresolved(self, at: str) -> bool:
        return any(found == at or found.startswith(f"{at}/") for found in self.expander.unresolved)

    def expand(self, value: Any, at: str, owner: str | None, resources_allowed: bool = False) -> tuple[Any, set[str]]:
        return self.expander.expand(value, at, owner=owner, resources_allowed=resources_allowed)

    def run(self) -> tuple[Rendered | None, list[TemplateProblem]]:
        doc = self.document
        for key in doc:
            if key not in TOP_KEYS:
                self.problem(f"{TEMPLATE}{pointer(key)}", f"unknown key; a template has {', '.join(TOP_KEYS)}")
        if "description" in doc and not isinstance(doc["description"], str):
            self.problem(f"{TEMPLATE}/description", "a description is text")
        on_failure, _ = self.expand(doc.get("on_failure", "rollback"), f"{TEMPLATE}/on_failure", None)
        if on_failure not in ON_FAILURE:
            self.problem(f"{TEMPLATE}/on_failure", f"one of {', '.join(ON_FAILURE)}, not {on_failure!r}")
        if not isinstance(doc.get("resources"), dict) or not doc["resources"]:
            self.problem(f"{TEMPLATE}/resources", "a template has at least one resource: a mapping of name -> resource")
        providers = _provider_lookup(self.session, self._provider_names())
        for name, body in self.bodies.items():
            self._resource(str(name), body, providers)
        outputs = self._outputs()
        self._check_graph()
        self.problems += self.expander.problems
        if self.problems:
            unique = dict.fromkeys(TemplateProblem(at, message) for at, message in self.problems)
            return None, list(unique)
        order = dependency_order(self.dependencies)
        resources = {name: self.desired[name] for name in order}
        return Rendered(
            resources=resources, outputs=outputs, parameters=self.values, on_failure=str(on_failure),
            environment=self._environment(resources),
        ), []  # fmt: skip

    def _provider_names(self) -> set[str]:
        names = set()
        for body in self.bodies.values():
            if isinstance(body, dict) and "provider" in body:
                value, _ = Expander(self.values, set()).expand(
                    body["provider"], "", owner=None, resources_allowed=False
                )
                if isinstance(value, str):
                    names.add(value)
        return names

    def _text(self, body: dict[str, Any], key: str, at: str, name: str, *, required: bool = True) -> str | None:
        if key not in body:
            if required:
                self.problem(at, f"{key} is required")
            return None
        value, _ = self.expand(body[key], f"{at}/{key}", name)
        if not isinstance(value, str) or not value:
            self.problem(f"{at}/{key}", f"{key} is non-empty text, not {value!r}")
            return None
        return value

    def _resource(self, name: str, body: Any, providers: dict[str, Provider]) -> None:
        at = f"{TEMPLATE}/resources{pointer(name)}"
        self.dependencies[name] = set()
        if not LOGICAL_NAME.fullmatch(name):
            self.problem(
                at, "a resource name is a lowercase letter then up to 62 lowercase letters, digits, '_' or '-'"
            )
        if not isinstance(body, dict):
            self.problem(at, "a resource is a mapping: {provider, type, size, ...}")
            return
        for key in body:
            if key not in RESOURCE_KEYS:
                self.problem(f"{at}{pointer(key)}", f"unknown key; a resource has {', '.join(RESOURCE_KEYS)}")
        provider = self._provider(body, at, name, providers)
        kind = self._text(body, "type", at, name)
        if kind is not None and kind not in TYPES:
            self.problem(f"{at}/type", f"unknown type {kind!r}; one of {', '.join(TYPES)}")
            kind = None
        region = self._region(body, at, name, provider)
        size = self._text(body, "size", at, name)
        tags = self._tags(body, at, name)
        options, option_refs = self.expand(body.get("options", {}), f"{at}/options", name, True)
        if not isinstance(options, dict):
            self.problem(f"{at}/options", "options are a mapping")
            options = {}
        image, image_refs = self._optional_text(body, "image", at, name)
        network, network_refs = self._optional_text(body, "network", at, name)
        depends_on = self._depends_on(body, at, name)
        protected, _ = self.expand(body.get("protected", False), f"{at}/protected", name)
        if not isinstance(protected, bool):
            self.problem(f"{at}/protected", f"protected is true or false, not {protected!r}")
        retain, _ = self.expand(body.get("retain", "delete"), f"{at}/retain", name)
        if retain not in RETAIN:
            self.problem(f"{at}/retain", f"one of {', '.join(RETAIN)}, not {retain!r}")
        elif retain == "snapshot" and kind is not None and kind not in SNAPSHOTTED:
            self.problem(f"{at}/retain", f"only a database or a volume is snapshotted; a {kind} is not")
        if kind == "instance_group":
            self._group_options(options, at)
        self.dependencies[name] = set(depends_on) | option_refs | image_refs | network_refs | tags[1]
        if provider is None or kind is None or region is None or size is None or self.uses_unresolved(at):
            return
        self._provider_rules(name, at, provider, kind, region, size, tags[0], options, image, network)
        self.desired[name] = DesiredResource(
            name=name, provider_id=provider.id, provider_kind=provider.kind, type=kind, region=region, size=size,
            tags=tags[0], image=image, network=network, options=options,
            depends_on=tuple(sorted(self.dependencies[name])), protected=bool(protected), retain=str(retain),
            pending={**pending_fields(tags[0], "tags"), **pending_fields(options, "options"),
                     **pending_fields(image, "image"), **pending_fields(network, "network")},
        )  # fmt: skip

    def _provider(self, body: dict[str, Any], at: str, name: str, providers: dict[str, Provider]) -> Provider | None:
        wanted = self._text(body, "provider", at, name)
        if wanted is None:
            return None
        provider = providers.get(wanted)
        if provider is None:
            known = sorted(self.session.scalars(select(Provider.name)))
            self.problem(f"{at}/provider", f"no registered provider is named {wanted!r} or has that id "
                                           f"(registered: {', '.join(known) or 'none'})")  # fmt: skip
        return provider

    def _region(self, body: dict[str, Any], at: str, name: str, provider: Provider | None) -> str | None:
        region = self._text(body, "region", at, name, required=False)
        if provider is None:
            return region
        if region is None and "region" not in body:
            region = provider.default_region
            if not region:
                self.problem(f"{at}/region", f"provider {provider.name!r} has no default region; give one")
                return None
        if region is not None and provider.regions and region not in provider.regions:
            self.problem(f"{at}/region", f"{region!r} is not a region of provider {provider.name!r}; "
                                         f"one of {', '.join(provider.regions)}")  # fmt: skip
            return None
        return region

    def _tags(self, body: dict[str, Any], at: str, name: str) -> tuple[dict[str, str], set[str]]:
        raw = body.get("tags", {})
        if not isinstance(raw, dict):
            self.problem(f"{at}/tags", "tags are a mapping of text -> text")
            return {}, set()
        for key, value in raw.items():
            if not isinstance(value, str):
                self.problem(f"{at}/tags{pointer(key)}", f"a tag's value is text; quote {value!r}")
            if str(key).lower().startswith(RESERVED_TAG_PREFIX):
                self.problem(f"{at}/tags{pointer(key)}", f"tags starting {RESERVED_TAG_PREFIX!r} are WedCloud's own "
                             "(attribution and client tokens); choose another key")  # fmt: skip
        tags, refs = self.expand({k: v for k, v in raw.items() if isinstance(v, str)}, f"{at}/tags", name, True)
        return {key: value if isinstance(value, str) else as_text(value) for key, value in tags.items()}, refs

    def _optional_text(self, body: dict[str, Any], key: str, at: str, name: str) -> tuple[str | None, set[str]]:
        if body.get(key) is None:
            return None, set()
        value, refs = self.expand(body[key], f"{at}/{key}", name, True)
        if not isinstance(value, str):
            self.problem(f"{at}/{key}", f"{key} is text, not {value!r}")
            return None, refs
        return value, refs

    def _depends_on(self, body: dict[str, Any], at: str, name: str) -> list[str]:
        raw = body.get("depends_on", [])
        if not isinstance(raw, list):
            self.problem(f"{at}/depends_on", "depends_on is a list of resource names")
            return []
        names = []
        for index, item in enumerate(raw):
            value, _ = self.expand(item, f"{at}/depends_on/{index}", name)
            if not isinstance(value, str) or value not in self.bodies:
                self.problem(f"{at}/depends_on/{index}", f"{value!r} names no resource of this template")
            elif value == name:
                self.problem(f"{at}/depends_on/{index}", "a resource cannot depend on itself")
            elif value in names:
                self.problem(f"{at}/depends_on/{index}", f"{value!r} is listed twice")
            else:
                names.append(value)
        return names

    def _group_options(self, options: dict[str, Any], at: str) -> None:
        low, high, desired = options.get("min", 1), options.get("max", 4), options.get("desired")
        if desired is None:
            return
        if not isinstance(desired, int) or isinstance(desired, bool):
            self.problem(f"{at}/options/desired", f"the desired capacity is a whole number, not {desired!r}")
        elif isinstance(low, int) and isinstance(high, int) and not low <= desired <= high:
            self.problem(f"{at}/options/desired", f"the desired capacity {desired} is outside min..max ({low}..{high})")

    def _provider_rules(
        self, name: str, at: str, provider: Provider, kind: str, region: str, size: str,
        tags: dict[str, str], options: dict[str, Any], image: str | None, network: str | None,
    ) -> None:  # fmt: skip
        resource_type, subtype = TYPES[kind]
        known = {key: value for key, value in tags.items() if not pending_fields(value, key)}  # the rest: at apply
        spec = ProvisionSpec(
            provider_id=provider.id, name=cloud_name(self.deployment_name, name), resource_type=resource_type,
            size=size, region=region, subtype=subtype, image=image, network=network, tags=known, options=options,
        )  # fmt: skip
        try:
            check_spec(provider, spec)
        except InvalidRequest as refused:
            pending = {field for field, text in (("image", image), ("network", network)) if pending_fields(text, field)}
            for error in refused.extra.get("errors", []):
                field = str(error.get("field", ""))
                if field in pending:
                    continue  # checked when the reference is resolved
                key = _FIELD_KEYS.get(field, "")
                message = str(error.get("message", refused.detail))
                if field == "name":
                    message = f"the cloud name {spec.name!r}: {message}"
                self.problem(f"{at}/{key}" if key else at, f"{provider.name}: {message}")

    def _outputs(self) -> dict[str, str]:
        raw = self.document.get("outputs", {})
        if not isinstance(raw, dict):
            self.problem(f"{TEMPLATE}/outputs", "outputs are a mapping of name -> text")
            return {}
        outputs = {}
        for name, text in raw.items():
            at = f"{TEMPLATE}/outputs{pointer(name)}"
            if not isinstance(text, str):
                self.problem(at, f"an output is text, not {text!r}")
                continue
            value, _ = self.expand(text, at, None, True)
            outputs[name] = value if isinstance(value, str) else as_text(value)
        return outputs

    def _check_graph(self) -> None:
        for path in cycles(self.dependencies):
            written = " -> ".join(path)
            for member in path[:-1]:
                self.problem(f"{TEMPLATE}/resources{pointer(member)}", f"dependency cycle: {written}")

    def _environment(self, resources: dict[str, DesiredResource]) -> str | None:
        for key in ("env", "environment"):
            if isinstance(self.values.get(key), str):
                return str(self.values[key])
        for key in ("env", "environment"):
            values = {r.tags.get(key) for r in resources.values()}
            if len(values) == 1 and (value := values.pop()) is not None:
                return value
        return None


def render(
    session: Session, *, document: dict[str, Any], parameters: dict[str, Any] | None,
    deployment_name: str | None = None,
) -> tuple[Rendered | None, list[TemplateProblem]]:  # fmt: skip
    """The template rendered against ``parameters`` and the registered providers, its resources
    in dependency order (ties by name), or every problem found, each with its JSON pointer.
    ``deployment_name`` makes the cloud names the providers' naming rules are checked on."""
    given: Any = document  # what a caller passes on may not be a mapping
    if not isinstance(given, dict):
        return None, [TemplateProblem(TEMPLATE, "a template is a mapping with resources (and parameters, outputs)")]
    return _Renderer(session, given, parameters, deployment_name).run()
