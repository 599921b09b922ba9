"""Azure's billing sources, through its SDKs with the credentials of ``clouds.azure.credentials``.

- ``BlobExportSource``: Cost Management exports delivered to Blob storage
  (``<container>/<path>/<YYYYMMDD-YYYYMMDD>/<run>/<file>.csv[.gz]``): the latest run of each
  month, every listing page followed, a blob fetched only when its ETag or size changed and
  checked against the listing and the run's manifest.
- ``CostQuerySource``: the Cost Management Query API (daily actual and amortized cost by two
  dimensions, service and charge type unless configured) for subscriptions without an export,
  following ``nextLink``.
"""

from __future__ import annotations

import json
import os
import re
from collections import defaultdict
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

from clouds.azure.credentials import client_options, credential_for
from clouds.billing import DownloadMismatch, ExportFile, cache_path, combined_signature, month_of_path


def cost_management_client(credentials: dict[str, Any] | None, endpoint_url: str | None = None) -> Any:
    from azure.mgmt.costmanagement import CostManagementClient

    return CostManagementClient(credential_for(credentials), **client_options(endpoint_url))


def blob_container(credentials: dict[str, Any] | None, account_url: str | None, container: str) -> Any:
    """A Blob container client: from a storage connection string or account key in the
    credentials, else the account URL with the service principal or the ambient chain."""
    from azure.storage.blob import BlobServiceClient

    credentials = credentials or {}
    if credentials.get("connection_string"):
        service = BlobServiceClient.from_connection_string(credentials["connection_string"])
    elif not account_url:
        raise ValueError("an Azure Blob source needs account_url, or a connection string in the credentials")
    elif credentials.get("account_key"):
        service = BlobServiceClient(account_url, credential=credentials["account_key"])
    else:
        service = BlobServiceClient(account_url, credential=credential_for(credentials or None))
    return service.get_container_client(container)


DATA_SUFFIXES = (".csv", ".csv.gz", ".parquet", ".snappy.parquet", ".gz")
_DATE_RANGE = re.compile(r"^\d{8}-\d{8}$")


def _run_of(name: str) -> str:
    """Which export run wrote a blob. Every run of an Azure export writes the whole period so
    far, so a month's folder (``YYYYMMDD-YYYYMMDD``) can hold several complete copies: in run
    folders (``<period>/<run id>/part_*.csv``, with a ``manifest.json``), or as one file per run
    (``<period>/<export>_<guid>.csv``). Blobs outside such a folder form a single run."""
    parts = name.split("/")
    for index, part in enumerate(parts):
        if _DATE_RANGE.match(part):
            return "/".join(parts[: index + 2])  # the period folder plus its run folder or file
    return ""


@dataclass
class BlobExportSource:
    """Cost Management exports in a Blob container. For each month only the latest run is
    read (earlier runs are superseded copies), limited to the files its manifest lists when it
    has one, each byte count checked."""

    source_id: str
    container: Any  # azure.storage.blob.ContainerClient
    prefix: str
    cache_dir: Path
    format: str | None = None
    page_size: int | None = None  # the service's default (5,000) unless set
    downloads: int = field(default=0, init=False)

    def _latest_runs(self) -> dict[date, list[Any]]:
        runs: dict[date, dict[str, list[Any]]] = defaultdict(lambda: defaultdict(list))
        listing = self.container.list_blobs(name_starts_with=self.prefix, results_per_page=self.page_size)
        for page in listing.by_page():
            for blob in page:
                is_manifest = blob.name.rsplit("/", 1)[-1] == "manifest.json"
                if not (is_manifest or blob.name.endswith(DATA_SUFFIXES)):
                    continue
                month = month_of_path(Path(blob.name))
                if month is not None:
                    runs[month][_run_of(blob.name)].append(blob)
        latest = {}
        for month, by_run in runs.items():
            _, blobs = max(by_run.items(), key=lambda item: (max(b.last_modified for b in item[1]), item[0]))
            latest[month] = self._listed(blobs)
        return latest

    def _listed(self, blobs: list[Any]) -> list[Any]:
        """The run's data blobs; when it has a manifest, exactly those the manifest names."""
        manifest = next((b for b in blobs if b.name.endswith("/manifest.json")), None)
        data = [b for b in blobs if b is not manifest]
        if manifest is None:
            return data
        document = json.loads(self.container.download_blob(manifest.name).readall())
        named = {entry["blobName"]: entry.get("byteCount") for entry in document.get("blobs", [])}
        if not named:
            return data
        present = {b.name: b for b in data}
        missing = sorted(set(named) - set(present))
        if missing:
            raise DownloadMismatch(f"{manifest.name} lists blobs that are not in the container: {missing}")
        for name, expected in named.items():
            if expected is not None and present[name].size != expected:
                raise DownloadMismatch(f"{name}: {present[name].size} bytes, the manifest says {expected}")
        return [present[name] for name in sorted(named)]

    def months(self) -> dict[date, str]:
        return {
            month: combined_signature([f"{b.name}:{b.etag}:{b.size}" for b in blobs])
            for month, blobs in self._latest_runs().items()
        }

    def fetch(self, month: date) -> list[ExportFile]:
        return [self._download(month, blob) for blob in self._latest_runs().get(month, [])]

    def _download(self, month: date, blob: Any) -> ExportFile:
        local = cache_path(self.cache_dir / self.container.container_name, blob.name)
        signature = f"{blob.etag}:{blob.size}"
        marker = local.with_name(local.name + ".etag")
        if not (local.exists() and marker.exists() and marker.read_text() == signature):
            local.parent.mkdir(parents=True, exist_ok=True)
            partial = local.with_name(f".{local.name}.partial")
            with open(partial, "wb") as handle:
                self.container.download_blob(blob.name, etag=blob.etag, match_condition=_if_match()).readinto(handle)
            if partial.stat().st_size != blob.size:
                partial.unlink()
                raise DownloadMismatch(f"{blob.name}: expected {blob.size} bytes, got {partial.stat().st_size}")
            os.replace(partial, local)
            marker.write_text(signature)
            self.downloads += 1
        return ExportFile(month, local, blob.size, signature, self.format)


def _if_match() -> Any:
    from azure.core import MatchConditions

    return MatchConditions.IfNotModified


# The Query API allows at most two group-by dimensions. Service and charge type keep purchases,
# refunds and usage apart; ("ResourceId", "ChargeType") gives resource-level costs instead.
DEFAULT_GROUPING = ("ServiceName", "ChargeType")
MAX_GROUPING = 2


@dataclass
class CostQuerySource:
    """Daily actual cost of a scope from the Cost Management Query API."""

    source_id: str
    client: Any  # azure.mgmt.costmanagement.CostManagementClient
    scope: str  # e.g. /subscriptions/<id>
    cache_dir: Path
    first_month: date
    today: date = field(default_factory=lambda: datetime.now(UTC).date())
    grouping: tuple[str, ...] = DEFAULT_GROUPING
    calls: int = field(default=0, init=False)

    def __post_init__(self) -> None:
        if not 0 < len(self.grouping) <= MAX_GROUPING:
            raise ValueError(f"the Cost Management Query API groups by one or two dimensions, not {self.grouping}")

    def months(self) -> dict[date, str]:
        months, cursor = {}, self.first_month.replace(day=1)
        current = self.today.replace(day=1)
        while cursor <= current:
            months[cursor] = "closed" if cursor < current else f"open:{self.today.isoformat()}"
            cursor = (cursor + timedelta(days=32)).replace(day=1)
        return months

    def _definition(self, month: date, cost_type: str) -> Any:
        from azure.mgmt.costmanagement.models import (
            QueryAggregation,
            QueryDataset,
            QueryDefinition,
            QueryGrouping,
            QueryTimePeriod,
        )

        end = min((month + timedelta(days=32)).replace(day=1), self.today) - timedelta(days=1)
        return QueryDefinition(
            type=cost_type,
            timeframe="Custom",
            time_period=QueryTimePeriod(
                from_property=datetime.combine(month, datetime.min.time(), tzinfo=UTC),
                to=datetime.combine(end, datetime.max.time().replace(microsecond=0), tzinfo=UTC),
            ),
            dataset=QueryDataset(
                granularity="Daily",
                aggregation={"totalCost": QueryAggregation(name="Cost", function="Sum")},
                grouping=[QueryGrouping(type="Dimension", name=name) for name in self.grouping],
            ),
        )

    def _rows(self, month: date, cost_type: str) -> dict[tuple[Any, ...], Any]:
        """Every page of one query, keyed by day, grouping values and currency."""
        definition = self._definition(month, cost_type)
        properties = self._page(definition, {})
        pages = [properties]
        while properties.next_link:
            # nextLink repeats the POST with a $skiptoken; the SDK does not follow it by itself
            link = parse_qs(urlsplit(properties.next_link).query)
            properties = self._page(definition, {k: v[-1] for k, v in link.items() if k != "api-version"})
            pages.append(properties)
        keyed: dict[tuple[Any, ...], Any] = {}
        for page in pages:
            names = [c.name for c in page.columns]
            cost = next(n for n in names if n in ("Cost", "PreTaxCost", "CostUSD", "totalCost"))
            for values in page.rows or []:
                row = dict(zip(names, values, strict=True))
                key = (row["UsageDate"], *(row.get(g) for g in self.grouping), row.get("Currency"))
                keyed[key] = keyed.get(key, Decimal(0)) + Decimal(str(row[cost]))  # a float prints as its shortest repr
        return keyed

    def fetch(self, month: date) -> list[ExportFile]:
        """The month's actual cost (what the invoice charges) beside its amortized cost (what
        the usage cost once commitments are spread over it): BilledCost and EffectiveCost."""
        if month > self.today:
            return []
        actual = self._rows(month, "ActualCost")
        amortized = self._rows(month, "AmortizedCost")
        lines = []
        for key in sorted(actual.keys() | amortized.keys(), key=lambda k: tuple(str(part) for part in k)):
            day, *groups, currency = key
            costs = {"Cost": str(actual.get(key, 0)), "AmortizedCost": str(amortized.get(key, 0))}
            row = costs | {"UsageDate": day}
            row |= dict(zip(self.grouping, groups, strict=True)) | {"Currency": currency, "Scope": self.scope}
            lines.append(json.dumps(row) + "\n")
        path = self.cache_dir / "cost-query" / f"{self.source_id}-{month:%Y-%m}.jsonl"
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text("".join(lines))
        return [ExportFile(month, path, path.stat().st_size, combined_signature(lines), "azure_cost_query")]

    def _page(self, definition: Any, params: dict[str, str]) -> Any:
        result = self.client.query.usage(self.scope, definition, params=params)
        self.calls += 1
        return result.properties
