"""Reading a deployment template: YAML (safe, without aliases, dates kept as text) or JSON text
of at most 1 MB, or an object already parsed, that JSON can hold and that nests at most
:data:`MAX_DEPTH` levels. Every problem points at ``/template``."""

from __future__ import annotations

import json
import math
from typing import Any

import yaml

from control_plane.deployments.spec import TemplateProblem
from control_plane.deployments.template_refs import pointer

MAX_DOCUMENT_BYTES = 1_000_000
MAX_DEPTH = 32  # levels of mappings and lists: a template needs about six
TEMPLATE = "/template"


class _TemplateLoader(yaml.SafeLoader):  # type: ignore[misc]
    """Safe YAML without aliases (no 'billion laughs') and with dates kept as text."""

    def compose_node(self, parent: Any, index: Any) -> Any:
        if self.check_event(yaml.AliasEvent):
            mark = self.peek_event().start_mark
            raise yaml.composer.ComposerError(None, None, "YAML aliases (*name) are not accepted", mark)
        return super().compose_node(parent, index)


_TemplateLoader.yaml_implicit_resolvers = {
    first: [(tag, regexp) for tag, regexp in resolvers if tag != "tag:yaml.org,2002:timestamp"]
    for first, resolvers in yaml.SafeLoader.yaml_implicit_resolvers.items()
}


def load_document(source: str | bytes | dict[str, Any]) -> tuple[dict[str, Any] | None, list[TemplateProblem]]:
    """A template from YAML or JSON text (at most 1 MB, no YAML aliases) or an object already
    parsed; problems point at ``/template``."""
    if isinstance(source, bytes):
        try:
            source = source.decode("utf-8")
        except UnicodeDecodeError:
            return None, [TemplateProblem(TEMPLATE, "a template is UTF-8 text")]
    if isinstance(source, str):
        if len(source.encode("utf-8")) > MAX_DOCUMENT_BYTES:
            return None, [TemplateProblem(TEMPLATE, f"a template is at most {MAX_DOCUMENT_BYTES:,} bytes")]
        try:
            parsed = json.loads(source) if source.lstrip().startswith("{") else yaml.load(source, _TemplateLoader)  # noqa: S506
        except json.JSONDecodeError as exc:
            return None, [
                TemplateProblem(TEMPLATE, f"not valid JSON: {exc.msg} at line {exc.lineno} column {exc.colno}")
            ]
        except yaml.YAMLError as exc:
            return None, [TemplateProblem(TEMPLATE, f"not valid YAML: {' '.join(str(exc).split())}")]
        except RecursionError:
            return None, [TemplateProblem(TEMPLATE, f"a template is nested at most {MAX_DEPTH} levels deep")]
        source = parsed
    if not isinstance(source, dict):
        return None, [TemplateProblem(TEMPLATE, "a template is a mapping with resources (and parameters, outputs)")]
    if _too_deep(source):
        return None, [TemplateProblem(TEMPLATE, f"a template is nested at most {MAX_DEPTH} levels deep")]
    problems = [TemplateProblem(at, message) for at, message in _json_problems(source, TEMPLATE)]
    return (None, problems) if problems else (source, [])


def _too_deep(value: Any) -> bool:
    """Whether ``value`` nests dicts and lists more than MAX_DEPTH levels (walked without recursion)."""
    stack = [(value, 1)]
    while stack:
        item, depth = stack.pop()
        children = item.values() if isinstance(item, dict) else item if isinstance(item, list) else ()
        for child in children:
            if isinstance(child, dict | list):
                if depth >= MAX_DEPTH:
                    return True
                stack.append((child, depth + 1))
    return False


def _json_problems(value: Any, at: str) -> list[tuple[str, str]]:
    """What JSON cannot hold: keys that are not text, non-finite numbers, other types."""
    if isinstance(value, dict):
        problems = []
        for key, item in value.items():
            if not isinstance(key, str):
                problems.append((f"{at}/{key}", f"a key is text; quote {key!r}"))
            else:
                problems += _json_problems(item, f"{at}{pointer(key)}")
        return problems
    if isinstance(value, list):
        return [p for i, item in enumerate(value) for p in _json_problems(item, f"{at}/{i}")]
    if isinstance(value, float) and not math.isfinite(value):
        return [(at, "numbers are finite")]
    if value is None or isinstance(value, str | int | float | bool):
        return []
    return [(at, f"a {type(value).__name__} value cannot be stored; use text")]
