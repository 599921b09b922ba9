"""A template's parameters: their declarations (type, default, allowed values, bounds) and the
values a request gives, checked and completed with the defaults."""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

from control_plane.deployments.template_refs import pointer

PARAMETER_TYPES = ("string", "integer", "number", "boolean")
PARAMETER_KEYS = ("type", "description", "default", "allowed", "minimum", "maximum")
PARAMETER_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]{0,62}$")
_NOUN = {"string": "text", "integer": "a whole number", "number": "a number", "boolean": "true or false"}


def has_type(value: Any, kind: str) -> bool:
    """Whether ``value`` is of parameter type ``kind`` (a boolean is not a number)."""
    if kind == "string":
        return isinstance(value, str)
    if kind == "boolean":
        return isinstance(value, bool)
    if isinstance(value, bool):
        return False
    if kind == "integer":
        return isinstance(value, int) or (isinstance(value, float) and value.is_integer())
    return isinstance(value, int | float)


def _value_problems(value: Any, declaration: Mapping[str, Any], at: str) -> list[tuple[str, str]]:
    kind = declaration.get("type", "string")
    if not has_type(value, kind):
        return [(at, f"must be {_NOUN[kind]} ({kind}), not {value!r}")]
    allowed = declaration.get("allowed")
    if isinstance(allowed, list) and allowed and value not in allowed:
        return [(at, f"{value!r} is not allowed; one of {', '.join(repr(a) for a in allowed)}")]
    problems = []
    if kind in ("integer", "number"):
        low, high = declaration.get("minimum"), declaration.get("maximum")
        if has_type(low, "number") and value < low:
            problems.append((at, f"{value} is below the minimum {low}"))
        if has_type(high, "number") and value > high:
            problems.append((at, f"{value} is above the maximum {high}"))
    return problems


def _declaration_problems(name: str, declaration: Any, at: str) -> list[tuple[str, str]]:
    if not PARAMETER_NAME.fullmatch(name):
        return [(at, "a parameter name is a letter or '_' then up to 62 letters, digits or '_'")]
    if not isinstance(declaration, dict):
        return [(at, "a parameter is declared as a mapping: {type: string, default: ..., allowed: [...]}")]
    problems = [(f"{at}{pointer(key)}", f"unknown key; a parameter has {', '.join(PARAMETER_KEYS)}")
                for key in declaration if key not in PARAMETER_KEYS]  # fmt: skip
    kind = declaration.get("type", "string")
    if kind not in PARAMETER_TYPES:
        return [*problems, (f"{at}/type", f"one of {', '.join(PARAMETER_TYPES)}, not {kind!r}")]
    if "description" in declaration and not isinstance(declaration["description"], str):
        problems.append((f"{at}/description", "a description is text"))
    allowed = declaration.get("allowed")
    if allowed is not None:
        if not isinstance(allowed, list) or not allowed:
            problems.append((f"{at}/allowed", "a non-empty list of values"))
        else:
            problems += [(f"{at}/allowed/{i}", f"must be {_NOUN[kind]} ({kind})")
                         for i, item in enumerate(allowed) if not has_type(item, kind)]  # fmt: skip
    for bound in ("minimum", "maximum"):
        if bound in declaration:
            if kind not in ("integer", "number"):
                problems.append((f"{at}/{bound}", f"only integer and number parameters have a {bound}"))
            elif not has_type(declaration[bound], "number"):
                problems.append((f"{at}/{bound}", "a number"))
    low: Any = declaration.get("minimum")
    high: Any = declaration.get("maximum")
    if has_type(low, "number") and has_type(high, "number") and low > high:
        problems.append((f"{at}/minimum", f"the minimum {low} is above the maximum {high}"))
    if "default" in declaration and not problems:
        problems += _value_problems(declaration["default"], declaration, f"{at}/default")
    return problems


def parameter_values(
    declarations: Any, given: Any, *, template_at: str = "/template", values_at: str = "/parameters"
) -> tuple[dict[str, Any], list[tuple[str, str]]]:
    """Every declared parameter's value (the one given, else its default) and the problems of
    the declarations (under ``template_at``) and of the values given (under ``values_at``)."""
    problems: list[tuple[str, str]] = []
    if declarations is None:
        declarations = {}
    if not isinstance(declarations, dict):
        return {}, [(f"{template_at}/parameters", "parameters are a mapping of name -> declaration")]
    if given is None:
        given = {}
    if not isinstance(given, dict):
        return {}, [(values_at, "parameters are an object of name -> value")]
    values: dict[str, Any] = {}
    for name, declaration in declarations.items():
        at = f"{template_at}/parameters{pointer(name)}"
        found = _declaration_problems(str(name), declaration, at)
        problems += found
        if found:
            continue
        if name in given:
            value_problems = _value_problems(given[name], declaration, f"{values_at}{pointer(name)}")
            problems += value_problems
            if not value_problems:
                values[name] = _normal(given[name], declaration.get("type", "string"))
        elif "default" in declaration:
            values[name] = _normal(declaration["default"], declaration.get("type", "string"))
        else:
            problems.append(
                (f"{values_at}{pointer(name)}", f"required: the template declares {name!r} with no default")
            )
    for name in given:
        if name not in declarations:
            declared = ", ".join(sorted(map(str, declarations))) or "none"
            problems.append(
                (f"{values_at}{pointer(name)}", f"the template declares no parameter {name!r} (declared: {declared})")
            )
    return values, problems


def _normal(value: Any, kind: str) -> Any:
    """An integer given as 2.0 is the integer 2."""
    return int(value) if kind == "integer" else value
