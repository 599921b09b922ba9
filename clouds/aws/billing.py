"""AWS's billing sources, through boto3 sessions (``clouds.aws.credentials``).

- ``S3CurSource``: a Data Exports / CUR delivery in S3. It reads the manifests, fetches only
  objects that are new or changed (by ETag and size), and verifies each download's size.
- ``CostExplorerSource``: ``GetCostAndUsage`` (daily, grouped by linked account and service,
  every page) for accounts without an export, written to a local file for the normaliser.

Every call retries throttling and transient errors with backoff (botocore's adaptive mode) and
follows pagination to the end.
"""

from __future__ import annotations

import json
from collections import defaultdict
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

from clouds.billing import ExportFile, cache_path, combined_signature, download_object, month_of_path


@dataclass
class S3CurSource:
    """A CUR 2.0 (or legacy CUR) delivery: ``s3://bucket/prefix/<export>/{data,metadata}/...``."""

    source_id: str
    s3: Any
    bucket: str
    prefix: str  # the export's folder, e.g. "cur/wedsync-cur2"
    cache_dir: Path
    format: str | None = None
    downloads: int = field(default=0, init=False)

    def _list(self, prefix: str) -> list[dict[str, Any]]:
        paginator = self.s3.get_paginator("list_objects_v2")
        objects: list[dict[str, Any]] = []
        for page in paginator.paginate(Bucket=self.bucket, Prefix=prefix):
            objects.extend(page.get("Contents", []))
        return objects

    def _manifest_files(self) -> dict[date, set[str]]:
        """Data files each month's manifest names (the delivery's own list of what is current)."""
        named: dict[date, set[str]] = {}
        for obj in self._list(f"{self.prefix.rstrip('/')}/metadata/"):
            if not obj["Key"].endswith("Manifest.json"):
                continue
            month = month_of_path(Path(obj["Key"]))
            if month is None:
                continue
            manifest = json.loads(self.s3.get_object(Bucket=self.bucket, Key=obj["Key"])["Body"].read())
            files = manifest.get("dataFiles") or manifest.get("reportKeys") or []
            named[month] = {f.split(f"s3://{self.bucket}/", 1)[-1] for f in files}
        return named

    def _data_objects(self) -> dict[date, list[dict[str, Any]]]:
        manifests = self._manifest_files()
        by_month: dict[date, list[dict[str, Any]]] = defaultdict(list)
        for obj in self._list(f"{self.prefix.rstrip('/')}/data/"):
            key = obj["Key"]
            month = month_of_path(Path(key))
            if month is None or not key.endswith((".parquet", ".csv.gz", ".csv", ".gz")):
                continue
            if month in manifests and not _listed(key, manifests[month]):
                continue  # an older delivery the manifest no longer lists
            by_month[month].append(obj)
        return dict(by_month)

    def months(self) -> dict[date, str]:
        return {
            month: combined_signature([f"{o['Key']}:{o['ETag']}:{o['Size']}" for o in objects])
            for month, objects in self._data_objects().items()
        }

    def fetch(self, month: date) -> list[ExportFile]:
        files = []
        for obj in self._data_objects().get(month, []):
            local = cache_path(self.cache_dir / self.bucket, obj["Key"])
            files.append(self._download(obj, local, month))
        return files

    def _download(self, obj: dict[str, Any], local: Path, month: date) -> ExportFile:
        signature, downloaded = download_object(self.s3, self.bucket, obj, local)
        self.downloads += downloaded
        return ExportFile(month, local, obj["Size"], signature, self.format)


def _listed(key: str, manifest_keys: set[str]) -> bool:
    return key in manifest_keys or any(key.endswith(k) or k.endswith(key) for k in manifest_keys)


@dataclass
class CostExplorerSource:
    """Daily cost per linked account and service from Cost Explorer, for accounts without an export."""

    source_id: str
    ce: Any
    cache_dir: Path
    first_month: date
    billing_account_id: str | None = None
    today: date = field(default_factory=lambda: datetime.now(UTC).date())
    calls: int = field(default=0, init=False)

    def months(self) -> dict[date, str]:
        months, cursor = {}, self.first_month.replace(day=1)
        current = self.today.replace(day=1)
        while cursor <= current:
            # a closed month is final once loaded; the open one changes every day
            months[cursor] = "closed" if cursor < current else f"open:{self.today.isoformat()}"
            cursor = (cursor + timedelta(days=32)).replace(day=1)
        return months

    def fetch(self, month: date) -> list[ExportFile]:
        end = min((month + timedelta(days=32)).replace(day=1), self.today)
        if end <= month:
            return []
        request: dict[str, Any] = {
            "TimePeriod": {"Start": month.isoformat(), "End": end.isoformat()},
            "Granularity": "DAILY",
            "Metrics": ["UnblendedCost", "UsageQuantity"],
            "GroupBy": [{"Type": "DIMENSION", "Key": "LINKED_ACCOUNT"}, {"Type": "DIMENSION", "Key": "SERVICE"}],
        }
        rows = []
        while True:
            response = self.ce.get_cost_and_usage(**request)
            self.calls += 1
            for period in response.get("ResultsByTime", []):
                for group in period.get("Groups", []):
                    row = {"TimePeriod": period["TimePeriod"], "Keys": group["Keys"], **group["Metrics"]}
                    rows.append(row | {"BillingAccountId": self.billing_account_id})
            token = response.get("NextPageToken")
            if not token:
                break
            request["NextPageToken"] = token
        path = self.cache_dir / "cost-explorer" / f"{self.source_id}-{month:%Y-%m}.jsonl"
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text("".join(json.dumps(r) + "\n" for r in rows))
        return [
            ExportFile(month, path, path.stat().st_size, combined_signature([path.read_text()]), "aws_cost_explorer")
        ]
