"""Every third-party package a source module imports is declared in pyproject.toml.

A package that only arrives through another one (httpx through a dev tool, starlette through
FastAPI) works until that other one drops it. The imports are read with ``ast``, as in
tests/test_layers.py, and mapped to the distributions that provide them with
``importlib.metadata.packages_distributions()``. Imports inside ``if TYPE_CHECKING:`` are not
needed at run time and are skipped.
"""

from __future__ import annotations

import ast
import sys
import tomllib
from collections.abc import Iterator
from importlib.metadata import packages_distributions
from pathlib import Path

import pytest
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

ROOT = Path(__file__).resolve().parents[1]
RUNTIME_PACKAGES = ("analytics", "assets", "clouds", "control_api", "control_plane", "pipelines", "wedcloud")
# Modules that import an optional extra, and only when it is installed (each guards the import)
EXTRA_USERS = {"control_api/telemetry.py": "otel"}


def _is_type_checking(test: ast.expr) -> bool:
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or (
        isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING"
    )


def runtime_imports(tree: ast.AST) -> Iterator[tuple[str, int]]:
    """(top-level module, line) of each absolute import outside ``if TYPE_CHECKING:`` blocks."""
    stack: list[ast.AST] = [tree]
    while stack:
        node = stack.pop()
        if isinstance(node, ast.If) and _is_type_checking(node.test):
            stack.extend(node.orelse)
            continue
        if isinstance(node, ast.Import):
            for alias in node.names:
                yield alias.name.split(".")[0], node.lineno
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            yield node.module.split(".")[0], node.lineno
        stack.extend(ast.iter_child_nodes(node))


def declared_distributions(pyproject: dict[str, object]) -> set[str]:
    project = pyproject["project"]
    assert isinstance(project, dict)
    return {canonicalize_name(Requirement(spec).name) for spec in project["dependencies"]}


def extra_distributions(pyproject: dict[str, object], extra: str) -> set[str]:
    project = pyproject["project"]
    assert isinstance(project, dict)
    return {canonicalize_name(Requirement(spec).name) for spec in project["optional-dependencies"][extra]}


def undeclared_imports(
    root: Path, packages: tuple[str, ...], declared: set[str], extras: dict[str, set[str]] | None = None
) -> list[str]:
    """One line per import whose distribution pyproject.toml does not declare (``extras``: more
    distributions a file, by its path from ``root``, may import)."""
    providers = packages_distributions()
    own = set(packages)
    problems = []
    for package in packages:
        for path in sorted((root / package).rglob("*.py")):
            tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
            allowed = declared | (extras or {}).get(path.relative_to(root).as_posix(), set())
            for module, line in runtime_imports(tree):
                if module in own or module in sys.stdlib_module_names or module == "__future__":
                    continue
                distributions = {canonicalize_name(name) for name in providers.get(module, [])}
                if not distributions:
                    problems.append(f"{path.relative_to(root)}:{line}: {module} (no distribution installed)")
                elif not distributions & allowed:
                    names = ", ".join(sorted(distributions))
                    problems.append(f"{path.relative_to(root)}:{line}: {module} (from {names}, not declared)")
    return problems


def test_every_runtime_import_is_a_declared_dependency() -> None:
    pyproject = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))
    extras = {path: extra_distributions(pyproject, extra) for path, extra in EXTRA_USERS.items()}
    problems = undeclared_imports(ROOT, RUNTIME_PACKAGES, declared_distributions(pyproject), extras)
    assert problems == [], "imported but not in [project] dependencies:\n" + "\n".join(problems)


def test_dev_tools_are_not_runtime_dependencies() -> None:
    pyproject = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))
    runtime = declared_distributions(pyproject)
    assert {"dagster-dg-cli", "pytest", "moto", "mypy", "ruff"}.isdisjoint(runtime)


@pytest.mark.parametrize(
    ("source", "declared", "expected"),
    [
        ("import httpx\n", set(), ["pkg/m.py:1: httpx (from httpx, not declared)"]),
        ("import httpx\n", {"httpx"}, []),
        ("from yaml import safe_load\n", set(), ["pkg/m.py:1: yaml (from pyyaml, not declared)"]),
        ("from yaml import safe_load\n", {"pyyaml"}, []),
        ("import json, pkg.other\nfrom . import sibling\n", set(), []),
        ("from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n    import httpx\n", set(), []),
        (
            "import surely_not_installed_anywhere\n",
            set(),
            ["pkg/m.py:1: surely_not_installed_anywhere (no distribution installed)"],
        ),
    ],
    ids=[
        "undeclared",
        "declared",
        "import-name-differs",
        "import-name-differs-declared",
        "stdlib-own-relative",
        "type-checking-only",
        "not-installed",
    ],
)
def test_undeclared_imports_names_the_module_and_its_distribution(
    tmp_path: Path, source: str, declared: set[str], expected: list[str]
) -> None:
    (tmp_path / "pkg").mkdir()
    (tmp_path / "pkg" / "m.py").write_text(source, encoding="utf-8")
    assert undeclared_imports(tmp_path, ("pkg",), declared) == expected
