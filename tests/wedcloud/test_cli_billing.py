"""``wedcloud billing``: register a cloud account's billing source, list it, ask it for months."""

from __future__ import annotations

import json
import uuid
from pathlib import Path

import pytest
from botocore.config import Config
from typer.testing import CliRunner

from clouds.aws import credentials as aws_credentials
from wedcloud.cli.main import app


@pytest.fixture
def home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("WEDCLOUD_HOME", str(tmp_path / "home"))
    monkeypatch.delenv("WEDCLOUD_DATABASE_URL", raising=False)
    return tmp_path / "home"


@pytest.mark.integration
def test_an_s3_source_is_added_listed_and_asked_for_its_months(
    home: Path, tmp_path: Path, moto_endpoint: str, aws_keys: dict[str, str]
) -> None:
    s3 = aws_credentials.client(aws_credentials.session_for(aws_keys, "us-east-1"), "s3", moto_endpoint)
    s3.create_bucket(Bucket="bills")
    for month in ("2026-01", "2026-02"):
        s3.put_object(Bucket="bills", Key=f"cur/wedsync/data/BILLING_PERIOD={month}/part-1.parquet", Body=b"PAR1")
    keys = tmp_path / "aws.json"
    keys.write_text(json.dumps(aws_keys))
    runner = CliRunner()
    settings = ["--set", "bucket=bills", "--set", "prefix=cur/wedsync", "--set", f"endpoint_url={moto_endpoint}"]
    added = runner.invoke(
        app,
        [
            "billing",
            "add",
            "aws-prod",
            "--kind",
            "aws",
            "--source",
            "s3_cur",
            *settings,
            "--credentials-file",
            str(keys),
        ],
    )
    assert added.exit_code == 0, added.output
    listed = runner.invoke(app, ["billing", "list"])
    assert "aws-prod" in listed.stdout
    assert "credentials stored" in listed.stdout
    assert aws_keys["secret_access_key"] not in listed.stdout
    months = runner.invoke(app, ["billing", "months", "aws-prod"])
    assert months.exit_code == 0, months.output
    assert [line[:7] for line in months.stdout.splitlines()] == ["2026-01", "2026-02"]


def test_a_source_missing_a_setting_is_refused_and_nothing_is_saved(home: Path) -> None:
    runner = CliRunner()
    refused = runner.invoke(app, ["billing", "add", "az", "--kind", "azure", "--source", "azure_cost_query"])
    assert refused.exit_code == 2
    assert "needs scope, first_month" in refused.stderr
    assert "az " not in runner.invoke(app, ["billing", "list"]).stdout


def test_a_credentials_file_that_is_not_json_is_refused(home: Path, tmp_path: Path) -> None:
    bad = tmp_path / "creds.txt"
    bad.write_text("AKIA... secret")
    command = ["billing", "add", "x", "--kind", "aws", "--source", "cost_explorer", "--set", "first_month=2026-01-01"]
    result = CliRunner().invoke(app, [*command, "--credentials-file", str(bad)])
    assert result.exit_code == 2
    assert "not a readable JSON file" in result.output


def test_a_name_that_cannot_be_a_partition_key_is_refused(home: Path) -> None:
    result = CliRunner().invoke(
        app,
        ["billing", "add", "aws|prod", "--kind", "aws", "--source", "cost_explorer", "--set", "first_month=2026-01-01"],
    )
    assert result.exit_code == 2
    assert "letters, digits, spaces" in result.stderr


def _add_s3(runner: CliRunner, name: str, endpoint: str, keys: Path) -> None:
    settings = ["--set", "bucket=bills", "--set", "prefix=cur/wedsync", "--set", f"endpoint_url={endpoint}"]
    command = ["billing", "add", name, "--kind", "aws", "--source", "s3_cur", *settings]
    command += ["--credentials-file", str(keys)]
    added = runner.invoke(app, command)
    assert added.exit_code == 0, added.output


def test_an_unreachable_source_is_one_line_with_the_cause_and_the_fix_and_a_traceback_with_debug(
    home: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # botocore's own retries of the refused connection (adaptive backoff, 8 attempts) took about
    # 9 s a command and are not what this proves: one attempt reaches the same message
    monkeypatch.setattr(aws_credentials, "RETRIES", Config(retries={"mode": "standard", "max_attempts": 1}))
    keys = tmp_path / "aws.json"
    keys.write_text(json.dumps({"access_key_id": "AKIAIOSFODNN7EXAMPLE", "secret_access_key": "not-a-secret"}))
    runner = CliRunner()
    _add_s3(runner, "aws-prod", "http://127.0.0.1:9", keys)  # nothing listens there
    result = runner.invoke(app, ["billing", "months", "aws-prod"])
    assert result.exit_code == 1
    assert result.stdout == ""
    (line,) = result.stderr.splitlines()
    assert line.startswith("error: aws-prod: AWS could not be reached")
    assert "http://127.0.0.1:9" in line
    assert "check that this machine reaches the cloud" in line
    assert "`wedcloud billing remove aws-prod`" in line
    assert "Traceback" not in result.stderr

    debug = runner.invoke(app, ["--debug", "billing", "months", "aws-prod"])
    assert debug.exit_code == 1
    assert type(debug.exception.__cause__).__name__ == "EndpointConnectionError"  # raised, for the traceback


def test_a_mistaken_source_is_removed_with_its_partition_and_an_audit_row(
    home: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import dagster as dg
    from sqlalchemy import create_engine, text

    keys = tmp_path / "aws.json"
    keys.write_text(json.dumps({"access_key_id": "AKIAIOSFODNN7EXAMPLE", "secret_access_key": "not-a-secret"}))
    runner = CliRunner()
    _add_s3(runner, "aws-prod", "http://127.0.0.1:9", keys)
    _add_s3(runner, "aws-dev", "http://127.0.0.1:9", keys)
    engine = create_engine(f"sqlite:///{home / 'state.db'}")
    with engine.connect() as connection:
        ids = dict(connection.execute(text("SELECT name, id FROM providers")).all())
    dagster_home = home / "dagster"
    monkeypatch.setenv("DAGSTER_HOME", str(dagster_home))  # the command points it there; restored after
    with dg.DagsterInstance.from_config(str(dagster_home)) as instance:  # as the billing sensor leaves them
        instance.add_dynamic_partitions("billing_source", [str(uuid.UUID(str(i))) for i in ids.values()])

    removed = runner.invoke(app, ["billing", "remove", "aws-prod"])
    assert removed.exit_code == 0, removed.output
    assert "removed provider aws-prod (aws) and its billing partition" in removed.stderr
    listed = runner.invoke(app, ["billing", "list"]).stdout
    assert "aws-prod" not in listed
    assert "aws-dev" in listed
    with dg.DagsterInstance.from_config(str(dagster_home)) as instance:
        assert instance.get_dynamic_partitions("billing_source") == [str(uuid.UUID(str(ids["aws-dev"])))]
    with engine.connect() as connection:
        audited = connection.execute(text("SELECT action, target FROM audit_log WHERE action = 'provider.delete'"))
        assert audited.all() == [("provider.delete", f"provider:{uuid.UUID(str(ids['aws-prod']))}")]
    engine.dispose()

    for command in ("remove", "months"):
        again = runner.invoke(app, ["billing", command, "aws-prod"])
        assert again.exit_code == 2
        assert "no provider named 'aws-prod'; `wedcloud billing list` shows them" in again.stderr
