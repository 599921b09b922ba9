"""FOCUS line items as Parquet files: one file per billing source and month, in a hive layout.

    <root>/focus/provider=<source id>/month=<YYYY-MM>/part-0.parquet

The root is a local folder or an S3 bucket and prefix (``s3://bucket/prefix``: AWS S3, MinIO
or any S3-compatible store). A partition is the unit the billing asset replaces (a registered
provider's id, the ``x_SourceId`` of its rows, and the billing month), so replacing it is the
replacement of one file:

- in a folder, the file is written under ``<root>/.staging/`` (same file system, outside the
  glob readers use) and moved into place with ``os.replace``, an atomic rename: a reader sees
  the old file or the new one, never a part of either; a reader that opened the old file keeps
  reading it whole;
- in S3, the file is written locally and uploaded as one object (a single PUT, or a multipart
  upload that S3 completes as one object): S3 shows the old object or the new one, never a part.

The name is fixed, so a re-run overwrites its partition and never adds a second file beside
it; a crash before the move leaves the partition as it was, and its staging folder behind: the
next write removes staging folders untouched for ``STALE_STAGING`` (a day; a partition's write
takes seconds to minutes, so no live writer's folder is that old). A zero-row file at
``provider=_schema/month=1970-01`` keeps the glob non-empty, so that the ``focus_costs`` view
reads (as nothing) before the first month lands.

DuckDB reads the files through the view ``focus_costs`` (``view_sql``); ``provider`` comes from
the path as ``x_SourceId``, so a query on one source opens only that source's files.
"""

from __future__ import annotations

import os
import re
import shutil
import tempfile
import time
import uuid
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import date, timedelta
from pathlib import Path
from typing import Any

import duckdb

from analytics.focus.formats.base import literal
from analytics.focus.schema import ALL_COLUMNS

FOCUS = "focus"
PART = "part-0.parquet"
SCHEMA_SOURCE = "_schema"  # the zero-row partition; never a provider's id (ids are UUIDs)
SCHEMA_MONTH = date(1970, 1, 1)
STAGING = ".staging"
STALE_STAGING = timedelta(days=1)
_SAFE_KEY = re.compile(r"^[^./=\\\x00][^/=\\\x00]*$")  # a folder name: ids, or the names keyed before ids
_PARTITION = re.compile(r"provider=([^/]+)/month=(\d{4})-(\d{2})/" + re.escape(PART) + "$")


def typed_select(columns: Mapping[str, str] | None = None) -> str:
    """The select list giving every ``focus_costs`` column its type and place: what a file holds.
    ``columns`` names the columns the source has (others are NULL, as ``INSERT BY NAME`` leaves them)."""
    parts = []
    for column in ALL_COLUMNS:
        value = f'"{column.name}"' if columns is None or column.name in columns else "NULL"
        parts.append(f'CAST({value} AS {column.sql_type}) AS "{column.name}"')
    return ", ".join(parts)


@dataclass(frozen=True)
class Lake:
    """Where the FOCUS Parquet files live, and the credentials to reach an S3 root (unset: the
    standard AWS chain, e.g. ``AWS_ACCESS_KEY_ID``); ``s3_endpoint`` for MinIO or an emulator."""

    root: str
    s3_endpoint: str | None = None
    s3_region: str | None = None
    access_key_id: str | None = None
    secret_access_key: str | None = None

    @property
    def is_s3(self) -> bool:
        return self.root.startswith("s3://")

    @property
    def base(self) -> str:
        """The root without a trailing slash: a folder's absolute path, or ``s3://bucket/prefix``."""
        return self.root.rstrip("/") if self.is_s3 else str(Path(self.root).expanduser().resolve())

    @property
    def glob(self) -> str:
        return f"{self.base}/{FOCUS}/*/*/*.parquet"

    def partition_path(self, source_id: str, month: date) -> str:
        if not _SAFE_KEY.match(source_id) or (source_id == SCHEMA_SOURCE and month != SCHEMA_MONTH):
            raise ValueError(f"source id {source_id!r} cannot name a partition folder")
        return f"{self.base}/{FOCUS}/provider={source_id}/month={month:%Y-%m}/{PART}"

    # --- reading -------------------------------------------------------------------------------

    def view_sql(self, name: str = "focus_costs") -> str:
        return (
            f"CREATE OR REPLACE VIEW {name} AS SELECT * EXCLUDE (provider, month) REPLACE (provider AS x_SourceId) "
            f"FROM read_parquet({literal(self.glob)}, hive_partitioning = true, "
            "hive_types = {'provider': 'VARCHAR', 'month': 'VARCHAR'})"
        )

    def attach(self, con: duckdb.DuckDBPyConnection) -> None:
        """Let ``con`` read the root: for S3, DuckDB reads through pyarrow's S3 client (DuckDB's
        httpfs extension is fetched from its own site, which this project cannot rely on)."""
        if self.is_s3:
            con.register_filesystem(_arrow_s3(self))

    @contextmanager
    def reader(self) -> Iterator[duckdb.DuckDBPyConnection]:
        """An in-memory DuckDB connection with the ``focus_costs`` view: reads need no warehouse lock."""
        self.ensure()
        con = duckdb.connect()
        try:
            con.execute("SET TimeZone = 'UTC'")
            self.attach(con)
            con.execute(self.view_sql())
            yield con
        finally:
            con.close()

    def partitions(self) -> list[tuple[str, date]]:
        """Every landed (source id, month), the zero-row schema partition aside."""
        if self.is_s3:
            bucket, prefix = _split(self.base)
            prefix = f"{prefix}/" if prefix else ""
            client = _boto3_s3(self)
            names = [
                f"{bucket}/{item['Key']}"
                for page in client.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=f"{prefix}{FOCUS}/")
                for item in page.get("Contents", [])
            ]
        else:
            names = [str(p) for p in Path(self.base, FOCUS).glob(f"*/*/{PART}")]
        found = []
        for name in names:
            match = _PARTITION.search(name)
            if match and match.group(1) != SCHEMA_SOURCE:
                found.append((match.group(1), date(int(match.group(2)), int(match.group(3)), 1)))
        return sorted(found)

    # --- writing -------------------------------------------------------------------------------

    @contextmanager
    def staging(self) -> Iterator[Path]:
        """A private local folder for a partition being written, removed afterwards. For a folder
        root it is under the root, so that ``publish`` is a rename on one file system."""
        if self.is_s3:
            folder = Path(tempfile.mkdtemp(prefix="wedcloud-lake-"))
        else:
            self.sweep_staging()
            folder = Path(self.base, STAGING, uuid.uuid4().hex)
            folder.mkdir(parents=True)
        try:
            yield folder
        finally:
            shutil.rmtree(folder, ignore_errors=True)

    def sweep_staging(self, older_than: timedelta = STALE_STAGING) -> list[str]:
        """Remove the staging folders of a folder root that nothing has touched for ``older_than``
        (what a writer that crashed left); the names removed. An S3 root stages in the system's
        temporary folder, which is the system's to clean."""
        root = Path(self.base, STAGING)
        if self.is_s3 or not root.is_dir():
            return []
        cutoff = time.time() - older_than.total_seconds()
        removed = []
        for folder in root.iterdir():
            try:
                newest = max(p.stat().st_mtime for p in [folder, *folder.rglob("*")])
            except FileNotFoundError:  # its writer finished (and removed it) meanwhile
                continue
            if newest < cutoff:
                shutil.rmtree(folder, ignore_errors=True)
                removed.append(folder.name)
        return removed

    def publish(self, staged: Path, source_id: str, month: date) -> str:
        """Replace the partition's file with ``staged`` in one step (see the module's docstring)."""
        target = self.partition_path(source_id, month)
        if self.is_s3:
            bucket, key = _split(target)
            _boto3_s3(self).upload_file(str(staged), bucket, key)
        else:
            Path(target).parent.mkdir(parents=True, exist_ok=True)
            with open(staged, "rb") as handle:
                os.fsync(handle.fileno())
            os.replace(staged, target)
        return target

    def remove(self, source_id: str, month: date) -> None:
        """Drop a partition (a provider removed): its rows leave the view at once."""
        target = self.partition_path(source_id, month)
        if self.is_s3:
            bucket, key = _split(target)
            _boto3_s3(self).delete_object(Bucket=bucket, Key=key)
        else:
            Path(target).unlink(missing_ok=True)

    def ensure(self) -> None:
        """Write the zero-row schema partition unless it is there (idempotent, safe to race:
        every writer writes the same empty file)."""
        target = self.partition_path(SCHEMA_SOURCE, SCHEMA_MONTH)
        if self.is_s3:
            bucket, key = _split(target)
            client = _boto3_s3(self)
            if client.list_objects_v2(Bucket=bucket, Prefix=key).get("KeyCount", 0):
                return
        elif Path(target).exists():
            return
        with self.staging() as folder, duckdb.connect() as con:
            staged = folder / PART
            con.execute(f"COPY (SELECT {typed_select({})} WHERE false) TO {literal(str(staged))} (FORMAT parquet)")
            self.publish(staged, SCHEMA_SOURCE, SCHEMA_MONTH)

    def rename_source(self, old: str, new: str) -> int:
        """Move the partitions keyed ``old`` (a provider's name, before ids) to ``new`` (its id),
        with ``x_SourceId`` rewritten: each is published under ``new`` before the old is removed.
        The rows moved."""
        moved = 0
        with duckdb.connect() as con:
            con.execute("SET TimeZone = 'UTC'")
            self.attach(con)
            for source_id, month in self.partitions():
                if source_id != old:
                    continue
                source = literal(self.partition_path(old, month))
                moved += self.write_partition(
                    con, f"SELECT * REPLACE ($1 AS x_SourceId) FROM read_parquet({source})", new, month, [new]
                )
                self.remove(old, month)
        return moved

    def write_partition(
        self, con: duckdb.DuckDBPyConnection, select_sql: str, source_id: str, month: date, params: list[Any]
    ) -> int:
        """Write the rows of ``select_sql`` (every ``focus_costs`` column, typed) as the partition:
        staged, then published; the rows written."""
        with self.staging() as folder:
            staged = folder / PART
            (rows,) = con.execute(f"COPY ({select_sql}) TO {literal(str(staged))} (FORMAT parquet)", params).fetchall()[
                0
            ]
            self.publish(staged, source_id, month)
        return int(rows)


def _split(url: str) -> tuple[str, str]:
    """``s3://bucket/a/b`` -> (``bucket``, ``a/b``)."""
    bucket, _, key = url.removeprefix("s3://").partition("/")
    return bucket, key


def _boto3_s3(lake: Lake) -> Any:
    import boto3

    return boto3.client(
        "s3",
        endpoint_url=lake.s3_endpoint,
        region_name=lake.s3_region,
        aws_access_key_id=lake.access_key_id,
        aws_secret_access_key=lake.secret_access_key,
    )


def _arrow_s3(lake: Lake) -> Any:
    from fsspec.implementations.arrow import ArrowFSWrapper
    from pyarrow import fs

    options: dict[str, Any] = {"region": lake.s3_region or "us-east-1"}
    if lake.s3_endpoint:
        scheme, _, host = lake.s3_endpoint.partition("://")
        options.update(endpoint_override=host, scheme=scheme)
    if lake.access_key_id and lake.secret_access_key:
        options.update(access_key=lake.access_key_id, secret_key=lake.secret_access_key)

    class S3Files(ArrowFSWrapper):  # type: ignore[misc]
        protocol = "s3"  # the paths DuckDB hands this file system

    return S3Files(fs.S3FileSystem(**options))
