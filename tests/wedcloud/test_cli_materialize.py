"""``wedcloud materialize`` with real providers' bills from a folder: it fails loudly (exit 1,
naming the run and its cause) when a run fails, and providers removed since their partitions
were made no longer stop it."""

from __future__ import annotations

import json
import shutil
from datetime import date
from pathlib import Path

import dagster as dg
import pytest
from sqlalchemy.orm import Session
from typer.testing import CliRunner

from clouds.sandbox.catalog import FlavourKey
from clouds.sandbox.create import write_exports
from clouds.sandbox.world import build_world
from control_plane.services import provider_keys, providers
from control_plane.store.db import make_engine
from wedcloud.cli.main import app
from wedcloud.home import HomeLayout

pytestmark = pytest.mark.slow  # in-process Dagster runs: a few seconds each
FEBRUARY = ["--first", "2026-02-01", "--last", "2026-02-28"]


@pytest.fixture
def home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> HomeLayout:
    monkeypatch.setenv("WEDCLOUD_HOME", str(tmp_path / "home"))
    monkeypatch.delenv("WEDCLOUD_DATABASE_URL", raising=False)
    monkeypatch.setenv("DAGSTER_HOME", str(tmp_path / "unused"))  # the CLI points it home; restored after
    # no AWS credentials anywhere on this machine: a provider with only a role has nothing to assume it with
    for name in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN", "AWS_PROFILE"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("AWS_CONFIG_FILE", str(tmp_path / "none"))
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(tmp_path / "none"))
    monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")
    return HomeLayout(tmp_path / "home")


@pytest.fixture(scope="module")
def exports(tmp_path_factory: pytest.TempPathFactory) -> dict[FlavourKey, Path]:
    """February 2026's bills of each sandbox flavour, in a folder of its own."""
    root = tmp_path_factory.mktemp("exports")
    files = write_exports(build_world(4, date(2026, 3, 1), date(2026, 2, 1)), root / "all")
    folders = {}
    for flavour, paths in files.items():
        folders[flavour] = root / flavour.value
        for path in paths:
            if "2026-02" in str(path) or "202602" in str(path):
                target = folders[flavour] / path.relative_to(root / "all" / flavour.value)
                target.parent.mkdir(parents=True, exist_ok=True)
                shutil.copyfile(path, target)
    return folders


def _add(runner: CliRunner, name: str, kind: str, folder: Path, *extra: str) -> None:
    command = ["billing", "add", name, "--kind", kind, "--source", "folder", "--set", f"path={folder}", *extra]
    added = runner.invoke(app, command)
    assert added.exit_code == 0, added.output


def _billing_partitions(home: HomeLayout) -> list[str]:
    with dg.DagsterInstance.from_config(str(home.dagster_home)) as instance:
        return list(instance.get_dynamic_partitions("billing_source"))


def test_a_provider_whose_inventory_cannot_be_read_fails_the_command_naming_it(
    home: HomeLayout, tmp_path: Path, exports: dict[FlavourKey, Path]
) -> None:
    role_only = tmp_path / "role.json"  # a role to assume and no base credentials to assume it with
    role_only.write_text(json.dumps({"role_arn": "arn:aws:iam::123456789012:role/WedCloudReader"}))
    runner = CliRunner()
    _add(runner, "aws-prod", "aws", exports[FlavourKey.AWS], "--credentials-file", str(role_only))
    result = runner.invoke(app, ["materialize", *FEBRUARY])
    assert result.exit_code == 1, result.output
    (failure,) = [line for line in result.stderr.splitlines() if line.startswith("failed:")]
    assert "optimisation inputs of aws-prod failed" in failure
    assert "no base credentials to assume arn:aws:iam::123456789012:role/WedCloudReader" in failure  # not the wrapper
    assert "done" not in result.stderr.splitlines()[-1]
    # its bills were loaded and published all the same
    assert list(home.serving.glob("snapshot-*.duckdb"))


def test_materialize_forgets_the_partitions_of_a_provider_removed_through_the_api(
    home: HomeLayout, exports: dict[FlavourKey, Path]
) -> None:
    runner = CliRunner()
    _add(runner, "gcp-billing", "gcp", exports[FlavourKey.GCP])
    _add(runner, "azure-mistake", "azure", exports[FlavourKey.AZURE])
    engine = make_engine(f"sqlite:///{home.root / 'state.db'}")
    with Session(engine) as session:
        keys = provider_keys.names_to_keys(session)
    first = runner.invoke(app, ["materialize", *FEBRUARY])
    assert first.exit_code == 0, first.output
    assert sorted(_billing_partitions(home)) == sorted(keys.values())

    with Session(engine) as session, session.begin():  # what DELETE /api/cloud/providers/{id} does
        gone = provider_keys.find_provider(session, "azure-mistake")
        assert gone is not None
        providers.delete_provider(session, gone)
    engine.dispose()
    again = runner.invoke(app, ["materialize", *FEBRUARY])
    assert again.exit_code == 0, again.output
    assert f"dropped the billing partitions of 1 removed provider(s): {keys['azure-mistake']}" in again.stderr
    assert _billing_partitions(home) == [keys["gcp-billing"]]
