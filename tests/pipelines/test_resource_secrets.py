"""The code location hands secrets to its resources through ``dg.EnvVar``: the UI shows names only."""

from __future__ import annotations

import base64
import os
from datetime import date
from pathlib import Path

import pytest
from dagster._core.remote_representation.external_data import RepositorySnap
from dagster_shared.serdes import serialize_value

from assets.resources import BillingSourcesResource, StateStoreResource
from pipelines.definitions import build_definitions
from pipelines.settings import PipelineSettings

PASSWORD = "wed-pg-Pa55word-7f3c"


def test_the_ui_shows_the_variables_names_not_the_database_password_or_the_key(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    url = f"postgresql+psycopg://wedcloud:{PASSWORD}@db.internal:5432/wedcloud"
    key = base64.b64encode(os.urandom(32)).decode()
    previous = base64.b64encode(os.urandom(32)).decode()
    monkeypatch.setenv("WEDCLOUD_DATABASE_URL", url)
    monkeypatch.setenv("WEDCLOUD_SECRET_KEY", key)
    monkeypatch.setenv("WEDCLOUD_SECRET_KEY_PREVIOUS", previous)
    defs = build_definitions(PipelineSettings(home=tmp_path, billing_start=date(2026, 1, 1)))
    # what the code location serves the webserver: every resource's config, job and sensor
    shown = serialize_value(RepositorySnap.from_def(defs.get_repository_def()))
    for secret in (PASSWORD, key, previous):
        assert secret not in shown
    assert "WEDCLOUD_DATABASE_URL" in shown
    assert "WEDCLOUD_SECRET_KEY" in shown
    # and a run resolves them from its own environment: the resource holds the real values
    resource = defs.resources["billing_sources"]
    assert isinstance(resource, BillingSourcesResource)
    processed = resource.process_config_and_initialize()
    assert processed.database_url == url
    assert processed.cipher().key == base64.b64decode(key)
    assert list(processed.cipher().previous) == [base64.b64decode(previous)]


def test_without_those_variables_the_sqlite_store_in_home_is_used(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    for name in ("WEDCLOUD_DATABASE_URL", "WEDCLOUD_SECRET_KEY", "WEDCLOUD_SECRET_KEY_PREVIOUS"):
        monkeypatch.delenv(name, raising=False)
    settings = PipelineSettings(home=tmp_path, billing_start=date(2026, 1, 1))
    resource = build_definitions(settings).resources["providers"]
    assert isinstance(resource, StateStoreResource)
    assert resource.database_url == settings.resolved_database_url
    assert resource.secret_key is None
