"""The house's layers, read from every source file's imports with ``ast``.

Imports point one way (docs/architecture.md):

    wedcloud.cli (CLI)  ->  control_api, pipelines
    control_api         ->  control_plane
    pipelines           ->  assets  ->  control_plane
    control_plane       ->  analytics, clouds
    wedcloud (leaves: home, snapshots, sqltypes) below all of them

No web framework or Dagster below the layers that serve them, and no source file over 500
lines (tests aside). Each rule is also run against a small tree that breaks it, so a rule that
could never fail would fail here.
"""

from __future__ import annotations

import ast
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
SOURCE_PACKAGES = (
    "analytics",
    "assets",
    "benchmarks",
    "clouds",
    "control_api",
    "control_plane",
    "pipelines",
    "wedcloud",
)
MAX_LINES = 500
WEB = ("fastapi", "starlette", "uvicorn")
DAGSTER = ("dagster",)  # dagster, dagster_webserver, dagster_dg_cli... (a prefix of the module name)
CORE = "control_plane"


@dataclass(frozen=True)
class Rule:
    """Modules under one of ``packages`` (dotted prefixes) must not import one of ``forbidden``."""

    name: str
    packages: tuple[str, ...]
    forbidden: tuple[str, ...]
    prefix_match: bool = False  # forbidden names match as prefixes of the top-level module ("dagster_...")


RULES = (
    Rule("no FastAPI or any web framework in the core, analytics or clouds", (CORE, "analytics", "clouds"), WEB),
    Rule("no Dagster in the core, analytics or clouds", (CORE, "analytics", "clouds"), DAGSTER, prefix_match=True),
    Rule(
        "nothing below the API imports control_api",
        (
            "pipelines",
            "assets",
            "analytics",
            "clouds",
            CORE,
            "wedcloud.home",
            "wedcloud.snapshots",
            "wedcloud.sqltypes",
        ),
        ("control_api",),
    ),
    Rule("assets never import pipelines", ("assets",), ("pipelines",)),
    Rule(
        "the core, analytics and clouds never import the Dagster layers",
        (CORE, "analytics", "clouds"),
        ("assets", "pipelines"),
    ),
    Rule("clouds and analytics never import the core", ("analytics", "clouds"), (CORE,)),
    Rule("clouds never import analytics", ("clouds",), ("analytics",)),
    Rule(
        "only the CLI imports the CLI",
        ("analytics", "assets", "clouds", "control_api", CORE, "pipelines", "wedcloud.home", "wedcloud.snapshots"),
        ("wedcloud.cli",),
    ),
    Rule(
        "the wedcloud leaves import nothing of ours but each other",
        ("wedcloud.home", "wedcloud.snapshots", "wedcloud.sqltypes", "wedcloud.focus_validator"),
        ("analytics", "assets", "clouds", "control_api", CORE, "pipelines", "wedcloud.cli"),
    ),
)


def module_name(root: Path, path: Path) -> str:
    parts = list(path.relative_to(root).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def source_files(root: Path) -> Iterator[Path]:
    for package in SOURCE_PACKAGES:
        yield from sorted((root / package).rglob("*.py"))


def imports_of(root: Path, path: Path) -> set[str]:
    """Every module ``path`` imports, anywhere in the file (functions and TYPE_CHECKING blocks
    included), relative imports resolved."""
    tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    package = module_name(root, path).split(".")
    if path.name != "__init__.py":
        package = package[:-1]
    found: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = package[: len(package) - node.level + 1] if node.level else []
            module = ".".join([*base, *([node.module] if node.module else [])])
            found.add(module)
            # `from control_api import routers` imports control_api.routers
            found.update(f"{module}.{alias.name}" for alias in node.names if alias.name != "*")
    return found


def _within(module: str, prefix: str) -> bool:
    return module == prefix or module.startswith(prefix + ".")


def _forbidden(rule: Rule, imported: str) -> bool:
    if rule.prefix_match:
        return any(imported.split(".")[0].startswith(name) for name in rule.forbidden)
    return any(_within(imported, name) for name in rule.forbidden)


def breaches(root: Path, rule: Rule) -> list[str]:
    """``file imports module`` for every file under ``root`` that breaks ``rule`` (its first
    offending import by name)."""
    found = []
    for path in source_files(root):
        module = module_name(root, path)
        if not any(_within(module, package) for package in rule.packages):
            continue
        offending = [imported for imported in imports_of(root, path) if _forbidden(rule, imported)]
        if offending:
            found.append(f"{path.relative_to(root).as_posix()} imports {min(offending)}")
    return found


def oversized(root: Path, limit: int = MAX_LINES) -> list[str]:
    found = []
    for path in source_files(root):
        lines = len(path.read_text(encoding="utf-8").splitlines())
        if lines > limit:
            found.append(f"{path.relative_to(root).as_posix()}: {lines} lines")
    return found


@pytest.mark.parametrize("rule", RULES, ids=[rule.name for rule in RULES])
def test_imports_point_one_way(rule: Rule) -> None:
    found = breaches(ROOT, rule)
    assert not found, f"{rule.name}:\n" + "\n".join(found)


def test_no_source_file_is_over_500_lines() -> None:
    found = oversized(ROOT)
    assert not found, "split these along their seams (docs/architecture.md):\n" + "\n".join(found)


def test_every_source_package_is_read() -> None:
    """The rules above see every package of the house: a package renamed or added without them
    would otherwise pass unread."""
    seen = {module_name(ROOT, path).split(".")[0] for path in source_files(ROOT)}
    assert seen == set(SOURCE_PACKAGES)
    on_disk = {p.name for p in ROOT.iterdir() if (p / "__init__.py").exists()} - {"tests"}
    assert on_disk <= set(SOURCE_PACKAGES), f"a package the layer rules do not read: {on_disk - set(SOURCE_PACKAGES)}"


# -- the rules fail when broken ----------------------------------------------------------------
# rule -> (a file that breaks it, its text, the import reported)
BREAKING_FILES = {
    "no FastAPI or any web framework in the core, analytics or clouds": (
        "control_plane/services/x.py",
        "from fastapi import HTTPException\n",
        "fastapi",
    ),
    "no Dagster in the core, analytics or clouds": (
        "analytics/x.py",
        "def f():\n    import dagster_webserver\n",
        "dagster_webserver",
    ),
    "nothing below the API imports control_api": (
        "assets/x.py",
        "from control_api.errors import ProblemException\n",
        "control_api.errors",
    ),
    "assets never import pipelines": ("assets/x.py", "from ..pipelines import definitions\n", "pipelines"),
    "the core, analytics and clouds never import the Dagster layers": (
        "control_plane/x.py",
        "from assets.resources import ProvidersResource\n",
        "assets.resources",
    ),
    "clouds and analytics never import the core": (
        "clouds/aws/x.py",
        "from control_plane.store.models import Provider\n",
        "control_plane.store.models",
    ),
    "clouds never import analytics": ("clouds/x.py", "import analytics.money\n", "analytics.money"),
    "only the CLI imports the CLI": ("control_api/x.py", "from wedcloud import cli\n", "wedcloud.cli"),
    "the wedcloud leaves import nothing of ours but each other": (
        "wedcloud/home.py",
        "from typing import TYPE_CHECKING\n\nif TYPE_CHECKING:\n    from clouds.base import Region\n",
        "clouds.base",
    ),
}


def _tree(root: Path, files: dict[str, str]) -> Path:
    for package in SOURCE_PACKAGES:
        (root / package).mkdir(parents=True, exist_ok=True)
    for relative, text in files.items():
        path = root / relative
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")
    return root


@pytest.mark.parametrize("rule", RULES, ids=[rule.name for rule in RULES])
def test_each_rule_reports_a_file_that_breaks_it(tmp_path: Path, rule: Rule) -> None:
    relative, text, offender = BREAKING_FILES[rule.name]
    root = _tree(tmp_path, {relative: text})
    assert breaches(root, rule) == [f"{relative} imports {offender}"]


def test_a_file_that_keeps_the_rules_is_not_reported(tmp_path: Path) -> None:
    root = _tree(
        tmp_path,
        {
            "assets/x.py": "import dagster\nfrom control_plane.services import billing\nfrom .resources import R\n",
            "control_plane/x.py": "from clouds.base import Region\nfrom analytics.money import format_amount\n",
            "pipelines/x.py": "from assets.x import y\n",
        },
    )
    assert [found for rule in RULES for found in breaches(root, rule)] == []


def test_relative_imports_are_resolved_against_their_package(tmp_path: Path) -> None:
    root = _tree(tmp_path, {"assets/x.py": "from ..pipelines.definitions import defs\nfrom .resources import R\n"})
    assert imports_of(root, root / "assets/x.py") >= {"pipelines.definitions", "assets.resources"}


def test_a_file_over_the_limit_is_reported_and_one_at_it_is_not(tmp_path: Path) -> None:
    root = _tree(tmp_path, {"clouds/long.py": "x = 1\n" * 501, "clouds/full.py": "x = 1\n" * 500})
    assert oversized(root) == ["clouds/long.py: 501 lines"]
