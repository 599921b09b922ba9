"""References in a template: ``${parameters.<name>}`` (substituted when the template is rendered)
and ``${resources.<name>.<attribute>}`` (substituted when the resource it names exists).

A value that is exactly one ``${parameters.x}`` takes the parameter's value with its type (an
integer stays an integer); inside longer text a parameter's value is written as text (``true``,
``2``, ``prod``). Resource references stay as text until :func:`resolve` fills them in from the
attributes of the made resources (:func:`attributes_of`).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import replace
from typing import Any

from control_plane.deployments.references import UnresolvedReference, substitute
from control_plane.deployments.spec import ATTRIBUTES, REFERENCE, DesiredResource

RESOURCE_FIELDS = ("tags", "options", "image", "network")  # where ${resources...} may appear (and outputs)


def pointer(*parts: str | int) -> str:
    """An RFC 6901 JSON pointer from its reference tokens (``~`` and ``/`` escaped)."""
    return "".join("/" + str(part).replace("~", "~0").replace("/", "~1") for part in parts)


def as_text(value: Any) -> str:
    """A parameter's value written into longer text: JSON's spelling of booleans and null."""
    if isinstance(value, bool):
        return "true" if value else "false"
    return "" if value is None else str(value)


class Expander:
    """Substitutes parameters in a template's values and checks every reference, collecting
    problems as ``(pointer, message)`` and the resources each value refers to."""

    def __init__(
        self, parameters: Mapping[str, Any], resource_names: set[str], declared: set[str] | None = None
    ) -> None:
        self.parameters = parameters  # the values (a declaration with problems has none)
        self.declared = set(parameters) if declared is None else declared
        self.resource_names = resource_names
        self.problems: list[tuple[str, str]] = []
        self.unresolved: set[str] = set()  # pointers of values that use a parameter with no value

    def expand(self, value: Any, at: str, *, owner: str | None, resources_allowed: bool) -> tuple[Any, set[str]]:
        """``value`` with its parameters substituted (dicts and lists walked), and the logical
        names of the resources it refers to. ``owner`` is the resource the value belongs to
        (None: an output), for the self-reference check."""
        if isinstance(value, dict):
            out, refs = {}, set()
            for key, item in value.items():
                out[key], found = self.expand(item, f"{at}{pointer(key)}", owner=owner,
                                              resources_allowed=resources_allowed)  # fmt: skip
                refs |= found
            return out, refs
        if isinstance(value, list):
            items, refs = [], set()
            for index, item in enumerate(value):
                expanded, found = self.expand(item, f"{at}/{index}", owner=owner, resources_allowed=resources_allowed)
                items.append(expanded)
                refs |= found
            return items, refs
        if not isinstance(value, str) or "${" not in value:
            return value, set()
        return self._expand_text(value, at, owner=owner, resources_allowed=resources_allowed)

    def _expand_text(self, text: str, at: str, *, owner: str | None, resources_allowed: bool) -> tuple[Any, set[str]]:
        matches = list(REFERENCE.finditer(text))
        if text.count("${") != len(matches):
            self.problems.append((at, f"{text!r} has an unclosed '${{': a reference is ${{parameters.<name>}} "
                                      "or ${resources.<name>.<attribute>}"))  # fmt: skip
            return text, set()
        refs: set[str] = set()
        typed: Any = None
        for match in matches:
            parts = match.group(1).strip().split(".")
            if parts[0] == "parameters":
                if len(parts) == 2 and parts[1] in self.declared and parts[1] not in self.parameters:
                    self.unresolved.add(at)  # the parameter's own problem is reported already
                    continue
                if len(parts) != 2 or parts[1] not in self.parameters:
                    declared = ", ".join(sorted(self.declared)) or "none"
                    self.problems.append((at, f"{match.group(0)} names no declared parameter (declared: {declared})"))
                    continue
                typed = self.parameters[parts[1]]
            elif parts[0] == "resources":
                name = self._resource_reference(parts, match.group(0), at, owner, resources_allowed)
                if name:
                    refs.add(name)
            else:
                self.problems.append((at, f"{match.group(0)} is not a reference: use ${{parameters.<name>}} or "
                                          "${resources.<name>.<attribute>}"))  # fmt: skip
        if len(matches) == 1 and matches[0].group(0) == text and not refs and typed is not None:
            return typed, refs  # exactly one parameter: it keeps its type

        def substitute(match: Any) -> str:
            parts = match.group(1).strip().split(".")
            if parts[0] == "parameters" and len(parts) == 2 and parts[1] in self.parameters:
                return as_text(self.parameters[parts[1]])
            return str(match.group(0))

        return REFERENCE.sub(substitute, text), refs

    def _resource_reference(
        self, parts: list[str], written: str, at: str, owner: str | None, resources_allowed: bool
    ) -> str | None:
        if not resources_allowed:
            self.problems.append((at, f"{written}: references to resources are allowed in tags, options, image, "
                                      "network and outputs only"))  # fmt: skip
            return None
        if len(parts) != 3:
            self.problems.append((at, f"{written}: a resource reference is ${{resources.<name>.<attribute>}}"))
            return None
        name, attribute = parts[1], parts[2]
        if name not in self.resource_names:
            self.problems.append((at, f"{written} names no resource of this template"))
            return None
        if name == owner:
            self.problems.append((at, f"{written}: a resource cannot refer to itself"))
            return None
        if attribute not in ATTRIBUTES:
            self.problems.append((at, f"{written}: {attribute!r} is not an attribute; one of {', '.join(ATTRIBUTES)}"))
            return None
        return name


def pending_fields(value: Any, path: str) -> dict[str, str]:
    """Field path (``options.a.b``, ``tags.x``, ``image``) -> text of each string in ``value``
    that still holds a ``${resources...}`` reference."""
    if isinstance(value, dict):
        found: dict[str, str] = {}
        for key, item in value.items():
            found |= pending_fields(item, f"{path}.{key}")
        return found
    if isinstance(value, list):
        found = {}
        for index, item in enumerate(value):
            found |= pending_fields(item, f"{path}.{index}")
        return found
    if isinstance(value, str) and any(m.group(1).strip().startswith("resources.") for m in REFERENCE.finditer(value)):
        return {path: value}
    return {}


# -- resolving resource references --------------------------------------------------------------
def _set_path(container: Any, keys: list[str], value: str) -> Any:
    """A copy of ``container`` with the item at ``keys`` (dict keys or list indexes) replaced."""
    if not keys:
        return value
    head, rest = keys[0], keys[1:]
    if isinstance(container, list):
        index = int(head)
        return [_set_path(item, rest, value) if i == index else item for i, item in enumerate(container)]
    if isinstance(container, Mapping):
        if head in container:
            return {**container, head: _set_path(container[head], rest, value)}
        # a key with dots in it: take the longest key the path starts with
        for size in range(len(keys), 1, -1):
            joined = ".".join(keys[:size])
            if joined in container:
                return {**container, joined: _set_path(container[joined], keys[size:], value)}
        return {**container, head: _set_path({}, rest, value) if rest else value}
    raise UnresolvedReference(f"cannot place a resolved value at {'.'.join(keys)!r}")


def resolve(desired: DesiredResource, attributes: Mapping[str, Mapping[str, str]]) -> DesiredResource:
    """``desired`` with every pending ``${resources.<name>.<attribute>}`` substituted from
    ``attributes`` (logical name -> its :data:`~control_plane.deployments.spec.ATTRIBUTES`);
    raises :class:`UnresolvedReference` (a KeyError) naming a reference it cannot fill."""
    if not desired.pending:
        return desired
    tags, options = dict(desired.tags), dict(desired.options)
    image, network = desired.image, desired.network
    for path, text in sorted(desired.pending.items()):
        value = substitute(text, attributes)
        field, _, rest = path.partition(".")
        if field == "tags" and rest:
            tags[rest] = value
        elif field == "options" and rest:
            options = _set_path(options, rest.split("."), value)
        elif field == "image" and not rest:
            image = value
        elif field == "network" and not rest:
            network = value
        else:
            raise UnresolvedReference(f"{desired.name}: a reference cannot be resolved into {path!r}")
    return replace(desired, tags=tags, options=options, image=image, network=network, pending={})


def resolve_outputs(outputs: Mapping[str, str], attributes: Mapping[str, Mapping[str, str]]) -> dict[str, str]:
    """Each output with its ``${resources...}`` references substituted (UnresolvedReference when
    one cannot be)."""
    return {name: substitute(text, attributes) for name, text in outputs.items()}
