"""Writers of the sandbox's bills in each provider's native export format, and the listing
of what has been written.

Layout under ``WEDCLOUD_HOME/exports/``:
- ``aws/<export>/data/BILLING_PERIOD=YYYY-MM/<export>-00001.snappy.parquet`` (CUR 2.0) and
  ``aws/<export>/metadata/BILLING_PERIOD=YYYY-MM/<export>-Manifest.json``;
- ``azure/<export>/YYYYMMDD-YYYYMMDD/<export>_<run>.csv`` (Cost Details, EA, actual cost);
- ``gcp/<dataset>/gcp_billing_export_v1_<ACCOUNT>/YYYY-MM.jsonl`` (BigQuery export rows).
"""

from __future__ import annotations

from datetime import date
from pathlib import Path

from clouds.base import BillingExport
from clouds.sandbox.catalog import FlavourKey

FORMAT_OF = {FlavourKey.AWS: "aws_cur2", FlavourKey.AZURE: "azure_cost_details", FlavourKey.GCP: "gcp_bigquery"}
_PATTERNS = {
    FlavourKey.AWS: "*/data/BILLING_PERIOD=*/*.parquet",
    FlavourKey.AZURE: "*/*-*/*.csv",
    FlavourKey.GCP: "*/gcp_billing_export_v1_*/*.jsonl",
}


def _period_of(path: Path, flavour: FlavourKey) -> date:
    match flavour:
        case FlavourKey.AWS:
            return date.fromisoformat(path.parent.name.removeprefix("BILLING_PERIOD=") + "-01")
        case FlavourKey.AZURE:
            start = path.parent.name.split("-")[0]
            return date(int(start[:4]), int(start[4:6]), 1)
        case FlavourKey.GCP:
            return date.fromisoformat(path.stem + "-01")


def _account_of(path: Path, flavour: FlavourKey) -> str:
    match flavour:
        case FlavourKey.AWS:
            return path.parents[2].name
        case FlavourKey.AZURE:
            return path.parents[1].name
        case FlavourKey.GCP:
            return path.parent.name.removeprefix("gcp_billing_export_v1_").replace("_", "-")


def list_exports(exports_dir: Path, flavour: FlavourKey) -> list[BillingExport]:
    """Every export file of a flavour, oldest billing period first."""
    root = exports_dir / flavour.value
    found = [
        BillingExport(
            format=FORMAT_OF[flavour],
            path=path,
            billing_period=_period_of(path, flavour),
            size_bytes=path.stat().st_size,
            account_id=_account_of(path, flavour),
        )
        for path in root.glob(_PATTERNS[flavour])
    ]
    return sorted(found, key=lambda e: (e.billing_period, str(e.path)))
