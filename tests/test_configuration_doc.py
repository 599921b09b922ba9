"""docs/configuration.md names every environment variable the code reads."""

from __future__ import annotations

import ast
import importlib
import re
from collections.abc import Iterator
from functools import cache
from pathlib import Path

from pydantic_settings import BaseSettings

ROOT = Path(__file__).resolve().parents[1]
DOC = ROOT / "docs" / "configuration.md"
SOURCE_PACKAGES = ("analytics", "assets", "clouds", "control_api", "control_plane", "pipelines", "wedcloud")
# the tests' own switches are documented too; only these, not the variables tools set for them
TEST_FILES = ("tests/conftest.py", "tests/browser.py")
ENV_NAME = re.compile(r"[A-Z][A-Z0-9_]*")
WEDCLOUD_NAME = re.compile(r"WEDCLOUD_[A-Z0-9_]+")


def _python_files() -> Iterator[Path]:
    for package in SOURCE_PACKAGES:
        yield from sorted((ROOT / package).rglob("*.py"))


def _literal(node: ast.AST | None) -> str | None:
    return node.value if isinstance(node, ast.Constant) and isinstance(node.value, str) else None


def _is_environ(node: ast.AST) -> bool:
    return (isinstance(node, ast.Attribute) and node.attr == "environ") or (
        isinstance(node, ast.Name) and node.id == "environ"
    )


def literal_reads(tree: ast.AST) -> set[str]:
    """Names read through ``os.environ.get/[]/setdefault``, ``os.getenv``, an ``envvar=`` option,
    and any string that is a whole ``WEDCLOUD_*`` name (passed on to something that reads it)."""
    names: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Call):
            func = node.func
            reads = isinstance(func, ast.Attribute) and (
                (func.attr in ("get", "setdefault", "pop") and _is_environ(func.value)) or func.attr == "getenv"
            )
            if reads and node.args and (name := _literal(node.args[0])):
                names.add(name)
            names.update(name for kw in node.keywords if kw.arg == "envvar" and (name := _literal(kw.value)))
        elif isinstance(node, ast.Subscript) and isinstance(node.ctx, ast.Load) and _is_environ(node.value):
            if name := _literal(node.slice):
                names.add(name)
        elif (text := _literal(node)) and WEDCLOUD_NAME.fullmatch(text):
            names.add(text)
    return {name for name in names if ENV_NAME.fullmatch(name)}


def settings_classes() -> list[type[BaseSettings]]:
    """Every pydantic-settings class of the source packages, found by reading the files."""
    found = []
    for path in _python_files():
        tree = ast.parse(path.read_text(), str(path))
        for node in ast.walk(tree):
            bases = {base.id for base in getattr(node, "bases", []) if isinstance(base, ast.Name)}
            if isinstance(node, ast.ClassDef) and "BaseSettings" in bases:
                module = ".".join(path.relative_to(ROOT).with_suffix("").parts)
                found.append(getattr(importlib.import_module(module), node.name))
    return found


def settings_variables(cls: type[BaseSettings]) -> set[str]:
    prefix = cls.model_config.get("env_prefix", "")
    return {f"{prefix}{name}".upper() for name in cls.model_fields}


@cache
def variables_in_code() -> dict[str, str]:
    """Each variable the code reads -> where it was found."""
    where: dict[str, str] = {}
    for cls in settings_classes():
        for name in settings_variables(cls):
            where.setdefault(name, f"{cls.__module__}.{cls.__qualname__}")
    for path in [*_python_files(), *(ROOT / name for name in TEST_FILES)]:
        for name in literal_reads(ast.parse(path.read_text(), str(path))):
            where.setdefault(name, str(path.relative_to(ROOT)))
    for name in re.findall(r"\$\{([A-Z][A-Z0-9_]*):-", (ROOT / "dev").read_text()):
        where.setdefault(name, "dev")
    return where


def test_every_environment_variable_the_code_reads_is_documented_in_configuration_md() -> None:
    documented = set(re.findall(r"`([A-Z][A-Z0-9_]*)`", DOC.read_text()))
    missing = {name: found for name, found in variables_in_code().items() if name not in documented}
    assert not missing, f"add these to docs/configuration.md (variable: where the code reads it): {missing}"


def test_the_collector_finds_each_kind_of_read_the_code_uses() -> None:
    """Guards the collector itself: if a kind of read stopped being found, the test above would
    pass while the document drifted."""
    found = variables_in_code()
    assert found["WEDCLOUD_MAX_BODY_BYTES"] == "control_api.settings.ApiSettings"  # field + prefix
    assert found["WEDCLOUD_MONITOR_STREAM_TICK_MS"] == "control_plane.monitoring.settings.MonitorSettings"
    assert found["WEDCLOUD_SECRET_KEY_PREVIOUS"] == "control_plane/crypto.py"  # os.environ.get
    assert found["WEDCLOUD_TLS_CERT"] == "wedcloud/cli/main.py"  # typer envvar=
    assert found["WEDCLOUD_UI_PORT"] == "wedcloud/cli/demo.py"  # a name passed to a reader
    assert found["WEDCLOUD_TEST_WORKERS"] == "dev"  # ${NAME:-default}
    assert found["WEDCLOUD_CHROMIUM"] == "tests/browser.py"
    sample = ast.parse(
        "import os\nos.getenv('A_B')\nos.environ['C_D']\nos.environ['E'] = 'x'\nf(envvar='G_H')\nos.environ.get(k)"
    )
    assert literal_reads(sample) == {"A_B", "C_D", "G_H"}
