"""Google Cloud's billing through its SDKs (credentials from ``clouds.gcp.credentials``): the Cloud Billing and
Catalog APIs (billing accounts, their projects, SKU list prices), and the billing source that
reads the Cloud Billing export table in BigQuery.

``BigQueryExportSource`` signs each invoice month with its row count, cost total and latest
``export_time`` (one small aggregate query), so a month Google restates is noticed, and fetches a
month as Parquet page by page, with the export's nested records kept as they are.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass, field
from datetime import date, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

from clouds.billing import ExportFile
from clouds.gcp.credentials import client_options, credentials_for
from clouds.gcp.retry import retrying

# Table names Cloud Billing gives its exports, with the account id's dashes as underscores.
STANDARD_PREFIX = "gcp_billing_export_v1_"
DETAILED_PREFIX = "gcp_billing_export_resource_v1_"
_TABLE = re.compile(r"^[A-Za-z0-9_\-]+\.[A-Za-z0-9_]+\.[A-Za-z0-9_]+$")


def is_table_id(text: str) -> bool:
    """``project.dataset.table``, nothing else (the id is put into SQL between backticks)."""
    return bool(_TABLE.match(text))


def bigquery_client(credentials: dict[str, Any] | None, project: str | None, endpoint_url: str | None = None) -> Any:
    from google.cloud import bigquery

    return bigquery.Client(
        project=project,
        credentials=credentials_for(credentials, endpoint_url),
        client_options=client_options(endpoint_url),
    )


def billing_catalog(
    credentials: dict[str, Any] | None, endpoint_url: str | None = None, *, backoff: float = 1.0
) -> BillingCatalog:
    """The Billing and Catalog clients, retrying when Google is busy (``backoff``: seconds before
    the first retry, :mod:`clouds.gcp.retry`)."""
    from google.cloud import billing_v1

    creds = credentials_for(credentials, endpoint_url)
    options = client_options(endpoint_url)
    return BillingCatalog(
        retrying(billing_v1.CloudBillingClient(credentials=creds, transport="rest", client_options=options), backoff),
        retrying(billing_v1.CloudCatalogClient(credentials=creds, transport="rest", client_options=options), backoff),
    )


@dataclass(frozen=True)
class BillingAccount:
    account_id: str
    display_name: str
    open: bool
    currency: str


@dataclass(frozen=True)
class ProjectBilling:
    project_id: str
    account_id: str
    billing_enabled: bool


@dataclass(frozen=True)
class SkuPrice:
    """A SKU's list price: tiers of (usage from which it applies, price per usage unit)."""

    service_id: str
    service_name: str
    sku_id: str
    description: str
    resource_family: str
    resource_group: str
    usage_type: str
    regions: tuple[str, ...]
    usage_unit: str
    currency: str
    effective_time: datetime
    tiers: tuple[tuple[Decimal, Decimal], ...]

    @property
    def unit_price(self) -> Decimal:
        """The first tier's price: what a small user pays per unit."""
        return self.tiers[0][1] if self.tiers else Decimal(0)


def money(value: Any) -> Decimal:
    """A google.type.Money as an exact Decimal (units plus nanos)."""
    return Decimal(int(value.units)) + Decimal(int(value.nanos)).scaleb(-9)


@dataclass
class BillingCatalog:
    """Cloud Billing (accounts and their projects) and Cloud Catalog (services and SKUs)."""

    billing: Any  # google.cloud.billing_v1.CloudBillingClient
    catalog: Any  # google.cloud.billing_v1.CloudCatalogClient
    page_size: int = 100

    def billing_accounts(self) -> list[BillingAccount]:
        return [
            BillingAccount(a.name.removeprefix("billingAccounts/"), a.display_name, a.open, a.currency_code)
            for a in self.billing.list_billing_accounts(request={"page_size": self.page_size})
        ]

    def projects(self, account_id: str) -> list[ProjectBilling]:
        request = {"name": f"billingAccounts/{account_id}", "page_size": self.page_size}
        return [
            ProjectBilling(p.project_id, account_id, p.billing_enabled)
            for p in self.billing.list_project_billing_info(request=request)
        ]

    def services(self) -> dict[str, str]:
        """Every service's display name ("Compute Engine") by its id ("6F81-5844-456A")."""
        return {s.service_id: s.display_name for s in self.catalog.list_services(request={"page_size": self.page_size})}

    def skus(self, service_id: str, currency: str = "USD") -> list[SkuPrice]:
        request = {"parent": f"services/{service_id}", "currency_code": currency, "page_size": self.page_size}
        prices = []
        for sku in self.catalog.list_skus(request=request):
            if not sku.pricing_info:
                continue
            latest = max(sku.pricing_info, key=lambda info: info.effective_time)
            expression = latest.pricing_expression
            prices.append(
                SkuPrice(
                    service_id=service_id,
                    service_name=sku.category.service_display_name,
                    sku_id=sku.sku_id,
                    description=sku.description,
                    resource_family=sku.category.resource_family,
                    resource_group=sku.category.resource_group,
                    usage_type=sku.category.usage_type,
                    regions=tuple(sku.service_regions),
                    usage_unit=expression.usage_unit,
                    currency=currency,
                    effective_time=latest.effective_time,
                    tiers=tuple(
                        (Decimal(repr(rate.start_usage_amount)), money(rate.unit_price))
                        for rate in expression.tiered_rates
                    ),
                )
            )
        return prices


def export_table_for(bigquery: Any, dataset: str, account_id: str) -> str:
    """The export table of a billing account in a dataset: the detailed (resource-level) table
    when there is one, as it holds everything the standard one does, else the standard one."""
    suffix = account_id.replace("-", "_")
    names = {t.table_id for t in bigquery.list_tables(dataset)}
    for prefix in (DETAILED_PREFIX, STANDARD_PREFIX):
        if prefix + suffix in names:
            return f"{dataset}.{prefix}{suffix}"
    raise LookupError(
        f"dataset {dataset} has no billing export table for account {account_id} "
        f"({DETAILED_PREFIX}{suffix} or {STANDARD_PREFIX}{suffix})"
    )


@dataclass
class BigQueryExportSource:
    source_id: str
    client: Any  # google.cloud.bigquery.Client
    table: str  # project.dataset.table
    cache_dir: Path
    page_size: int = 50_000
    queries: int = field(default=0, init=False)

    def __post_init__(self) -> None:
        if not is_table_id(self.table):
            raise ValueError(f"a BigQuery table is project.dataset.table, not {self.table!r}")

    def _query(self, sql: str, **parameters: str) -> Any:
        from google.cloud import bigquery

        config = bigquery.QueryJobConfig(
            query_parameters=[bigquery.ScalarQueryParameter(k, "STRING", v) for k, v in parameters.items()]
        )
        self.queries += 1
        return self.client.query(sql, job_config=config).result(page_size=self.page_size)

    def months(self) -> dict[date, str]:
        rows = self._query(
            f"SELECT invoice.month AS invoice_month, COUNT(*) AS line_items, SUM(cost) AS total_cost, "
            f"MAX(export_time) AS last_export FROM `{self.table}` GROUP BY invoice_month"
        )
        months = {}
        for row in rows:
            month = date(int(row["invoice_month"][:4]), int(row["invoice_month"][4:6]), 1)
            exported = row["last_export"].isoformat() if row["last_export"] else ""
            months[month] = f"{row['line_items']}:{row['total_cost']!r}:{exported}"
        return months

    def fetch(self, month: date) -> list[ExportFile]:
        import pyarrow.parquet as pq

        rows = self._query(f"SELECT * FROM `{self.table}` WHERE invoice.month = @month", month=f"{month:%Y%m}")
        path = self.cache_dir / "bigquery" / f"{self.table}-{month:%Y-%m}.parquet"
        path.parent.mkdir(parents=True, exist_ok=True)
        partial = path.with_name(f".{path.name}.partial")
        writer = None
        count = 0
        try:
            for batch in rows.to_arrow_iterable():
                if batch.num_rows == 0:
                    continue
                if writer is None:
                    writer = pq.ParquetWriter(partial, batch.schema)
                writer.write_batch(batch)
                count += batch.num_rows
        finally:
            if writer is not None:
                writer.close()
        if writer is None:  # no rows this month
            return []
        os.replace(partial, path)
        signature = f"{count}:{path.stat().st_size}"
        return [ExportFile(month, path, path.stat().st_size, signature, "gcp_billing_export")]
