"""Run the FinOps Foundation's official FOCUS validator on a file, in its own environment.

focus-validator 2.2.1 needs Python 3.12, pins numpy<2 and crashes with pyarrow 20+, so it
never shares WedCloud's environment: uv runs it as a tool (``uv tool run``), which caches
the environment after the first run. It reads ``focus_validator/rules/currency_codes.csv``
relative to its working directory, so each run gets a folder holding a copy. It exits 0
even when rules fail; the JUnit XML it writes is the verdict.

Its bundled 1.2 rule model (1.2.0.1) contradicts the specification in a few rules, which no
correct file can pass; they are listed in ``MODEL_DEFECTS`` with the reason, and a report
tells them apart from real failures. A run may also be told which further rules to excuse,
with the reason: the rules the converter's ``source-rule`` warnings name
(``analytics.focus.source_rules.excused``), which the provider's own data breaks and the
converted file keeps, so the validator rightly fails them.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import xml.etree.ElementTree as ET
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

VALIDATOR = "focus-validator==2.2.1"
PYTHON = "3.12"
EXTRA = "pyarrow<20"

MODEL_DEFECTS = {
    "InvoiceId-C-004-C": "requires InvoiceId to be null with no condition (spec: null only when no invoice applies)",
    "InvoiceId-C-005-C": "requires InvoiceId to be non-null with no condition; no file passes both this and C-004",
    "CommitmentDiscountStatus-C-004-C": "its condition is inverted: it demands a status on rows without a commitment",
    "CapacityReservationStatus-C-004-C": "its condition lost its AND and demands a status on every row",
    "CapacityReservationStatus-C-003-C": "its condition is dropped: it demands a null status even on reservation rows",
}
# Only for data priced in a virtual currency (tokens, credits), which FOCUS allows in
# PricingCurrency; the model checks CurrencyFormat as three capital letters.
VIRTUAL_CURRENCY_DEFECTS = {
    "PricingCurrency-C-003-M": "checks three capital letters; FOCUS allows a virtual currency such as 'Token' here",
}
MODEL_FILE = "model-1.2.0.1.json"


class ValidatorUnavailable(RuntimeError):
    pass


@dataclass(frozen=True)
class Failure:
    rule: str
    message: str


@dataclass
class ValidatorReport:
    total: int
    failures: list[Failure]
    skipped: int
    xml: Path
    explained: dict[str, str] = field(default_factory=dict)

    @property
    def unexplained(self) -> list[Failure]:
        """Failures that are not model defects and not composites failing only because of them."""
        return [f for f in self.failures if f.rule not in self.explained]


def uv_candidates() -> list[tuple[str, Path]]:
    """Where uv may be, in order, each with how it got there: ``$UV`` (set by ``uv run`` and by
    ``./dev``), the PATH, this interpreter's own scripts folder (``pip install uv`` into the
    environment), uv's installer's folders (``$UV_INSTALL_DIR``, ``$XDG_BIN_HOME``,
    ``~/.local/bin``, ``~/.cargo/bin``: often missing from the PATH of a shell, an IDE or a
    cron job), and this checkout's ``.tools/uv`` (where ``./dev`` installs it)."""
    found: list[tuple[str, Path]] = []
    if os.environ.get("UV"):
        found.append(("$UV", Path(os.environ["UV"])))
    if on_path := shutil.which("uv"):
        found.append(("PATH", Path(on_path)))
    found.append(("this Python's scripts", Path(sys.executable).parent / "uv"))
    home = Path.home()
    for label, folder in (
        ("$UV_INSTALL_DIR", os.environ.get("UV_INSTALL_DIR")),
        ("$XDG_BIN_HOME", os.environ.get("XDG_BIN_HOME")),
        ("~/.local/bin", str(home / ".local" / "bin")),
        ("~/.cargo/bin", str(home / ".cargo" / "bin")),
    ):
        if folder:
            found.append((label, Path(folder) / "uv"))
    found.append(("./dev's .tools/uv", Path(__file__).resolve().parents[1] / ".tools" / "uv" / "bin" / "uv"))
    return found


def uv_executable() -> str:
    """The first uv of :func:`uv_candidates` that can run."""
    candidates = uv_candidates()
    for _, path in candidates:
        if path.is_file() and os.access(path, os.X_OK):
            return str(path)
    looked = ", ".join(dict.fromkeys(label for label, _ in candidates))
    raise ValidatorUnavailable(
        f"the FOCUS validator runs in its own environment through uv, and no uv was found (looked at {looked}); "
        "run ./dev once (it installs uv into .tools/uv), install uv (https://docs.astral.sh/uv/), "
        "or set UV=/path/to/uv"
    )


def _env() -> dict[str, str]:
    # pyenv's shims answer only with PYENV_VERSION set; harmless where pyenv is absent
    return {**os.environ, "PYENV_VERSION": os.environ.get("WEDCLOUD_VALIDATOR_PYENV", "3.12.1")}


def _tool(*argv: str) -> list[str]:
    return [uv_executable(), "tool", "run", "--python", PYTHON, "--from", VALIDATOR, "--with", EXTRA, *argv]


def prepare_workdir(workdir: Path) -> Path:
    """A working directory where the validator finds its currency list."""
    rules = workdir / "focus_validator" / "rules"
    if (rules / "currency_codes.csv").exists() and (rules / MODEL_FILE).exists():
        return workdir
    probe = subprocess.run(  # noqa: S603 - fixed argv
        _tool("python", "-c", "import focus_validator, os; print(os.path.dirname(focus_validator.__file__))"),
        capture_output=True,
        text=True,
        env=_env(),
        timeout=600,
        check=False,
    )
    if probe.returncode != 0:
        raise ValidatorUnavailable(f"cannot install {VALIDATOR} with Python {PYTHON}: {probe.stderr.strip()[-500:]}")
    package = Path(probe.stdout.strip().splitlines()[-1])
    rules.mkdir(parents=True, exist_ok=True)
    for name in ("currency_codes.csv", MODEL_FILE):
        shutil.copyfile(package / "rules" / name, rules / name)
    return workdir


# Several files in one validator process: starting Python and importing the validator take about
# 4 of the 6 s a small file's run takes, so a batch pays them once. Each file still gets the
# validator's own command line and its own report.
_BATCH = """
import json, sys
from focus_validator.main import main
for argv in json.loads(sys.argv[1]):
    sys.argv = ["focus-validator", *argv]
    try:
        main()
    except SystemExit as stop:
        if stop.code not in (0, None):
            raise
"""


def _argv(data_file: Path, xml: Path, criteria: str | None) -> list[str]:
    argv = [
        "--data-file", str(data_file.resolve()), "--validate-version", "1.2", "--block-download",
        "--output-type", "unittest", "--output-destination", str(xml),
    ]  # fmt: skip
    return [*argv, "--applicability-criteria", criteria] if criteria else argv


def validate_files(
    data_files: Sequence[Path], workdir: Path, *, criteria: str | None = "ALL", timeout: float = 600
) -> list[Path]:
    """Run the validator over ``data_files`` (.parquet or .csv) in one process of its own; the
    unittest XML report of each, in order (read them with :func:`parse`)."""
    workdir = workdir.resolve()  # the validator runs inside it: relative paths would point elsewhere
    prepare_workdir(workdir)
    xmls = [workdir / f"{data_file.stem}.junit.xml" for data_file in data_files]
    if len(set(xmls)) != len(xmls):
        raise ValueError("two data files share a name; their reports would overwrite each other")
    for xml in xmls:
        xml.unlink(missing_ok=True)
    batch = json.dumps([_argv(f, x, criteria) for f, x in zip(data_files, xmls, strict=True)])
    done = subprocess.run(  # noqa: S603 - fixed argv
        _tool("python", "-c", _BATCH, batch),
        cwd=workdir,
        capture_output=True,
        text=True,
        env=_env(),
        timeout=timeout * max(1, len(data_files)),
        check=False,
    )
    missing = [str(f) for f, x in zip(data_files, xmls, strict=True) if not x.exists()]
    if done.returncode != 0 or missing:
        raise ValidatorUnavailable(f"focus-validator failed on {', '.join(missing) or data_files}: "
                                   f"{done.stderr.strip()[-800:]}")  # fmt: skip
    return xmls


def report(
    xml: Path, workdir: Path, *, virtual_currency: bool = False, excused: Mapping[str, str] | None = None
) -> ValidatorReport:
    """The verdict of one of :func:`validate_files`' reports, the model's known defects (and the
    virtual-currency ones, and ``excused``) explained."""
    defects = {
        **MODEL_DEFECTS,
        **(VIRTUAL_CURRENCY_DEFECTS if virtual_currency else {}),
        **(excused or {}),
    }
    return parse(xml, composites(workdir.resolve() / "focus_validator" / "rules" / MODEL_FILE), defects)


def run(
    data_file: Path,
    workdir: Path,
    *,
    criteria: str | None = "ALL",
    timeout: float = 600,
    virtual_currency: bool = False,
    excused: Mapping[str, str] | None = None,
) -> ValidatorReport:
    """Validate ``data_file`` (.parquet or .csv) against FOCUS 1.2 and parse the verdict.
    ``excused`` maps further rules to the reason their failure is explained (e.g. the source
    rules the converter warned of)."""
    (xml,) = validate_files([data_file], workdir, criteria=criteria, timeout=timeout)
    return report(xml, workdir, virtual_currency=virtual_currency, excused=excused)


def composites(model_file: Path) -> dict[str, tuple[str, ...]]:
    """Each composite rule of the model and the rules it is made of."""
    rules = json.loads(model_file.read_text())["ModelRules"]

    def children(node: object) -> list[str]:
        if isinstance(node, dict):
            found = [node["ModelRuleId"]] if node.get("CheckFunction") == "CheckModelRule" else []
            return found + [c for value in node.values() for c in children(value)]
        if isinstance(node, list):
            return [c for item in node for c in children(item)]
        return []

    return {
        rule_id: tuple(children(rule["ValidationCriteria"]["Requirement"]))
        for rule_id, rule in rules.items()
        if rule.get("Function") == "Composite"
    }


def parse(
    xml: Path, tree: dict[str, tuple[str, ...]] | None = None, defects: dict[str, str] | None = None
) -> ValidatorReport:
    root = ET.parse(xml).getroot()  # noqa: S314 - a file the validator just wrote
    failures = []
    for case in root.iter("testcase"):
        failure = case.find("failure")
        if failure is not None:
            rule = (case.get("name") or "").split(" ::")[0]
            failures.append(Failure(rule=rule, message=failure.get("message") or failure.text or ""))
    report = ValidatorReport(
        total=int(root.get("tests", 0)),
        failures=failures,
        skipped=int(root.get("skipped", 0)),
        xml=xml,
    )
    report.explained = _explain(failures, tree or {}, MODEL_DEFECTS if defects is None else defects)
    return report


def _explain(failures: list[Failure], tree: dict[str, tuple[str, ...]], defects: dict[str, str]) -> dict[str, str]:
    """Model defects, and composites whose failing parts are all explained."""
    failed = {f.rule for f in failures}
    explained = {rule: defects[rule] for rule in failed if rule in defects}
    changed = True
    while changed:
        changed = False
        for rule in failed - explained.keys():
            failing_parts = [child for child in tree.get(rule, ()) if child in failed]
            if failing_parts and all(child in explained for child in failing_parts):
                explained[rule] = "fails only because of " + ", ".join(failing_parts)
                changed = True
    return explained
