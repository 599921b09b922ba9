"""Shared fixtures of the analytics tests."""

from __future__ import annotations

from collections.abc import Iterator

import duckdb
import pytest

from analytics.focus.schema import create_table_sql


@pytest.fixture
def con() -> Iterator[duckdb.DuckDBPyConnection]:
    """An in-memory DuckDB in UTC with an empty ``focus_costs`` (a test module may define its
    own ``con`` with data, which takes precedence)."""
    connection = duckdb.connect()
    connection.execute("SET TimeZone = 'UTC'")
    connection.execute(create_table_sql())
    yield connection
    connection.close()
