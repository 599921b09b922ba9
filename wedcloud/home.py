"""The WedCloud home folder: every file the product writes lives under ``WEDCLOUD_HOME``."""

from __future__ import annotations

import os
from pathlib import Path


def home_from_env() -> Path:
    """``WEDCLOUD_HOME`` (default ``./.wedcloud``), absolute."""
    return Path(os.environ.get("WEDCLOUD_HOME", ".wedcloud")).expanduser().resolve()


class HomeLayout:
    """The named paths inside a home folder. Creating the object touches nothing on disk."""

    def __init__(self, root: Path) -> None:
        self.root = root

    @classmethod
    def from_env(cls) -> HomeLayout:
        return cls(home_from_env())

    @property
    def state_db(self) -> Path:
        """Default SQLite state store (used unless WEDCLOUD_DATABASE_URL is set)."""
        return self.root / "state.db"

    @property
    def warehouse(self) -> Path:
        """The DuckDB warehouse; only Dagster runs write it."""
        return self.root / "warehouse.duckdb"

    @property
    def lake(self) -> Path:
        """The FOCUS line items as Parquet files (``analytics.lake``), unless WEDCLOUD_LAKE puts
        them elsewhere (another folder, or S3)."""
        return self.root / "lake"

    @property
    def serving(self) -> Path:
        """Published serving snapshots and the pointer to the current one."""
        return self.root / "serving"

    @property
    def reports(self) -> Path:
        """Cost reports the schedules and the API wrote, one folder each."""
        return self.root / "reports"

    @property
    def exports(self) -> Path:
        """Billing export files, one folder per provider flavour."""
        return self.root / "exports"

    @property
    def dagster_home(self) -> Path:
        """DAGSTER_HOME: run, event and schedule storage of the Dagster instance."""
        return self.root / "dagster"

    @property
    def logs(self) -> Path:
        return self.root / "logs"

    def default_database_url(self) -> str:
        return f"sqlite:///{self.state_db}"

    def ensure(self) -> HomeLayout:
        for folder in (self.root, self.serving, self.reports, self.exports, self.dagster_home, self.logs):
            folder.mkdir(parents=True, exist_ok=True)
        return self
