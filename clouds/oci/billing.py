"""OCI's cost and FOCUS reports, read from the tenancy's report bucket in Object Storage.

Oracle writes a tenancy's reports into a bucket named after the tenancy OCID: proprietary
cost reports under ``reports/cost-csv/`` (numbered ``<sequence>.csv.gz`` files, each with
some hours of usage and sometimes late rows) and FOCUS reports under ``FOCUS Reports/``
(``FOCUS Reports/<year>/<month>/<day>/...csv.gz``). ``OciReportSource`` lists one of the two
(reading both would count every charge twice), gives each file to the month its folder names
(FOCUS) or the month it was written (cost reports, whose names carry no date), and downloads
only files that are new or changed (by ETag and size), checking each download's size.
"""

from __future__ import annotations

import re
from collections import defaultdict
from dataclasses import dataclass, field
from datetime import date, datetime
from pathlib import Path, PurePosixPath
from typing import Any

from clouds.billing import ExportFile, cache_path, combined_signature, download_object

REPORTS = {
    "cost": ("reports/cost-csv/", "oci_cost_report"),
    "focus": ("FOCUS Reports/", "focus"),
}
_DATED = re.compile(r"/(\d{4})/(\d{2})/")


@dataclass
class OciReportSource:
    """One kind of report (``cost`` or ``focus``) from a tenancy's report bucket."""

    source_id: str
    s3: Any
    bucket: str  # the tenancy OCID
    cache_dir: Path
    report: str = "cost"
    downloads: int = field(default=0, init=False)

    def __post_init__(self) -> None:
        if self.report not in REPORTS:
            raise ValueError(f"report must be one of {', '.join(REPORTS)}, not {self.report!r}")

    @property
    def prefix(self) -> str:
        return REPORTS[self.report][0]

    def _objects(self) -> dict[date, list[dict[str, Any]]]:
        by_month: dict[date, list[dict[str, Any]]] = defaultdict(list)
        paginator = self.s3.get_paginator("list_objects_v2")
        for page in paginator.paginate(Bucket=self.bucket, Prefix=self.prefix):
            for obj in page.get("Contents", []):
                key = obj["Key"]
                if not key.endswith((".csv.gz", ".csv")) or ".." in PurePosixPath(key).parts:
                    continue
                by_month[self._month(key, obj["LastModified"])].append(obj)
        return dict(by_month)

    def _month(self, key: str, written: datetime) -> date:
        found = _DATED.search("/" + key[len(self.prefix) :]) if self.report == "focus" else None
        if found and 1 <= int(found.group(2)) <= 12:
            return date(int(found.group(1)), int(found.group(2)), 1)
        return date(written.year, written.month, 1)  # boto3 gives LastModified in UTC

    def months(self) -> dict[date, str]:
        return {
            month: combined_signature([f"{o['Key']}:{o['ETag']}:{o['Size']}" for o in objects])
            for month, objects in self._objects().items()
        }

    def fetch(self, month: date) -> list[ExportFile]:
        return [self._download(obj, month) for obj in sorted(self._objects().get(month, []), key=lambda o: o["Key"])]

    def _download(self, obj: dict[str, Any], month: date) -> ExportFile:
        name = str(PurePosixPath(obj["Key"]).relative_to(self.prefix.rstrip("/")))
        local = cache_path(self.cache_dir / self.report, name)
        signature, downloaded = download_object(self.s3, self.bucket, obj, local)
        self.downloads += downloaded
        return ExportFile(month, local, obj["Size"], signature, REPORTS[self.report][1])
