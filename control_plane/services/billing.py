"""Billing sources of registered providers: what the billing pipeline ingests.

A provider's ``settings["billing"]`` says where its bills are:
``{"source": "sandbox"}`` (the default for sandbox providers), ``{"source": "folder", "path":
..., "format": ...}`` for exports someone already downloads, and the cloud sources that use
the provider's credentials (decrypted in memory only) or the SDK's own chain:
``{"source": "s3_cur", "bucket": ..., "prefix": "<path>/<export name>"}``,
``{"source": "cost_explorer", "first_month": "2025-01-01"}``,
``{"source": "azure_blob_export", "account_url": ..., "container": ..., "prefix": ...}``,
``{"source": "azure_cost_query", "scope": "/subscriptions/<id>", "first_month": ...}`` and
``{"source": "gcp_bigquery_export", "table": "<project>.<dataset>.<table>"}`` (or ``"dataset"``,
the table then found from the billing account) and ``{"source": "oci_object_storage",
"namespace": ..., "region": ..., "tenancy_ocid": ..., "report": "cost" | "focus"}``. Any source may
name an ``endpoint_url`` (S3-compatible storage, a sovereign cloud, or an emulator).
docs/billing-sources.md has them all.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date
from pathlib import Path
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from clouds.aws import billing as aws_billing
from clouds.aws import credentials as aws_credentials
from clouds.azure import billing as azure_billing
from clouds.billing import BillingSource
from clouds.gcp import billing as gcp_billing
from clouds.oci import billing as oci_billing
from clouds.oci import credentials as oci_credentials
from clouds.sandbox.billing_source import SandboxBillingSource
from clouds.sandbox.catalog import FlavourKey
from clouds.sources.folder import FolderSource
from control_plane.crypto import Cipher
from control_plane.outbound import OutboundRefused
from control_plane.outbound.endpoints import check_endpoint
from control_plane.services.errors import InvalidRequest, NotFound
from control_plane.services.provider_keys import find_provider, source_key
from control_plane.services.providers import credentials_of
from control_plane.store.models import Provider
from wedcloud.home import HomeLayout


@dataclass(frozen=True)
class BuildContext:
    provider: Provider
    config: dict[str, Any]
    layout: HomeLayout
    cipher: Cipher | None

    def require(self, *keys: str) -> None:
        missing = [k for k in keys if not self.config.get(k)]
        if missing:
            source = self.config.get("source")
            raise InvalidRequest(
                f"provider {self.provider.name!r}: a {source} billing source needs {', '.join(missing)}"
            )

    def credentials(self) -> dict[str, Any] | None:
        if self.provider.credentials_ciphertext is None:
            return None
        if self.cipher is None:
            raise InvalidRequest(f"provider {self.provider.name!r} has credentials but no key was given to open them")
        return credentials_of(self.provider, self.cipher)

    @property
    def cache_dir(self) -> Path:
        return self.layout.root / "cache" / "billing" / source_key(self.provider)


def _sandbox(ctx: BuildContext) -> BillingSource:
    return SandboxBillingSource(
        source_key(ctx.provider), ctx.layout.exports, FlavourKey(ctx.provider.settings["flavour"])
    )


def _folder(ctx: BuildContext) -> BillingSource:
    ctx.require("path")
    return FolderSource(source_key(ctx.provider), Path(ctx.config["path"]).expanduser(), ctx.config.get("format"))


def _aws_session(ctx: BuildContext) -> Any:
    return aws_credentials.session_for(ctx.credentials(), ctx.provider.default_region)


def _s3_cur(ctx: BuildContext) -> BillingSource:
    ctx.require("bucket", "prefix")
    s3 = aws_credentials.client(_aws_session(ctx), "s3", ctx.config.get("endpoint_url"))
    return aws_billing.S3CurSource(
        source_key(ctx.provider),
        s3,
        ctx.config["bucket"],
        ctx.config["prefix"],
        ctx.cache_dir,
        ctx.config.get("format"),
    )


def _cost_explorer(ctx: BuildContext) -> BillingSource:
    ctx.require("first_month")
    ce = aws_credentials.client(_aws_session(ctx), "ce", ctx.config.get("endpoint_url"))
    return aws_billing.CostExplorerSource(
        source_key(ctx.provider),
        ce,
        ctx.cache_dir,
        _first_month(ctx),
        billing_account_id=ctx.config.get("billing_account_id"),
    )


def _azure_blob_export(ctx: BuildContext) -> BillingSource:
    ctx.require("container")
    credentials = ctx.credentials()
    if not ctx.config.get("account_url") and not (credentials or {}).get("connection_string"):
        ctx.require("account_url")
    try:
        container = azure_billing.blob_container(credentials, ctx.config.get("account_url"), ctx.config["container"])
    except ValueError as error:
        raise InvalidRequest(f"provider {ctx.provider.name!r}: {error}") from None
    return azure_billing.BlobExportSource(
        source_key(ctx.provider), container, ctx.config.get("prefix", ""), ctx.cache_dir, ctx.config.get("format")
    )


def _azure_cost_query(ctx: BuildContext) -> BillingSource:
    ctx.require("scope", "first_month")
    try:
        client = azure_billing.cost_management_client(ctx.credentials(), ctx.config.get("endpoint_url"))
    except ValueError as error:
        raise InvalidRequest(f"provider {ctx.provider.name!r}: {error}") from None
    grouping = tuple(ctx.config.get("group_by") or azure_billing.DEFAULT_GROUPING)
    if not 0 < len(grouping) <= azure_billing.MAX_GROUPING:
        raise InvalidRequest(f"provider {ctx.provider.name!r}: group_by takes one or two dimensions, not {grouping}")
    return azure_billing.CostQuerySource(
        source_key(ctx.provider),
        client,
        ctx.config["scope"],
        ctx.cache_dir,
        _first_month(ctx),
        grouping=grouping,
    )


def _gcp_bigquery_export(ctx: BuildContext) -> BillingSource:
    """The export table named in the settings, or found in ``dataset`` from the billing account
    (``billing_account_id``, else the only open account the credentials can see)."""
    from google.auth.exceptions import DefaultCredentialsError

    table = ctx.config.get("table")
    if table and not gcp_billing.is_table_id(table):
        raise InvalidRequest(f"provider {ctx.provider.name!r}: table must be project.dataset.table, not {table!r}")
    if not table:
        ctx.require("dataset")
    credentials = ctx.credentials()
    project = ctx.config.get("project") or (table or ctx.config["dataset"]).split(".")[0]
    try:
        client = gcp_billing.bigquery_client(credentials, project, ctx.config.get("endpoint_url"))
        if not table:
            account = ctx.config.get("billing_account_id") or _only_billing_account(ctx, credentials)
            table = gcp_billing.export_table_for(client, ctx.config["dataset"], account)
    except DefaultCredentialsError:
        raise InvalidRequest(
            f"provider {ctx.provider.name!r} has no Google Cloud credentials: register a service account key "
            "or set up Application Default Credentials"
        ) from None
    except (LookupError, ValueError) as error:
        raise InvalidRequest(f"provider {ctx.provider.name!r}: {error}") from None
    return gcp_billing.BigQueryExportSource(source_key(ctx.provider), client, table, ctx.cache_dir)


def _only_billing_account(ctx: BuildContext, credentials: dict[str, Any] | None) -> str:
    catalog = gcp_billing.billing_catalog(credentials, ctx.config.get("billing_endpoint_url"))
    accounts = [a.account_id for a in catalog.billing_accounts() if a.open]
    if len(accounts) != 1:
        raise InvalidRequest(
            f"provider {ctx.provider.name!r}: the credentials see {len(accounts)} open billing accounts "
            f"({', '.join(accounts) or 'none'}); name one as billing_account_id"
        )
    return accounts[0]


def _oci_object_storage(ctx: BuildContext) -> BillingSource:
    """The tenancy's report bucket through Object Storage's S3-compatible API (customer secret key)."""
    ctx.require("namespace", "tenancy_ocid")
    region = ctx.config.get("region") or ctx.provider.default_region
    if not region:
        ctx.require("region")
    tenancy = str(ctx.config["tenancy_ocid"])
    if not re.fullmatch(r"ocid1\.tenancy\.[a-z0-9-]+\.[a-z0-9-]*\.[a-z0-9]+", tenancy):
        raise InvalidRequest(f"provider {ctx.provider.name!r}: tenancy_ocid must be a tenancy OCID, not {tenancy!r}")
    try:
        s3 = oci_credentials.s3_client(
            ctx.credentials(), namespace=str(ctx.config["namespace"]), region=str(region),
            endpoint_url=ctx.config.get("endpoint_url"),
        )  # fmt: skip
        return oci_billing.OciReportSource(
            source_key(ctx.provider), s3, tenancy, ctx.cache_dir, ctx.config.get("report", "cost")
        )
    except ValueError as error:
        raise InvalidRequest(f"provider {ctx.provider.name!r}: {error}") from None


def _first_month(ctx: BuildContext) -> date:
    try:
        return date.fromisoformat(ctx.config["first_month"]).replace(day=1)
    except (TypeError, ValueError):
        raise InvalidRequest(
            f"provider {ctx.provider.name!r}: first_month must be a date like 2025-01-01, "
            f"not {ctx.config['first_month']!r}"
        ) from None


BUILDERS: dict[str, Callable[[BuildContext], BillingSource]] = {
    "sandbox": _sandbox,
    "folder": _folder,
    "s3_cur": _s3_cur,
    "cost_explorer": _cost_explorer,
    "azure_blob_export": _azure_blob_export,
    "azure_cost_query": _azure_cost_query,
    "gcp_bigquery_export": _gcp_bigquery_export,
    "oci_object_storage": _oci_object_storage,
}


def billing_config(provider: Provider) -> dict[str, Any] | None:
    config = provider.settings.get("billing")
    if config is None and provider.kind == "sandbox":
        return {"source": "sandbox"}
    return dict(config) if config else None


def billing_source_for(provider: Provider, layout: HomeLayout, cipher: Cipher | None = None) -> BillingSource | None:
    config = billing_config(provider)
    if config is None:
        return None
    builder = BUILDERS.get(config.get("source", ""))
    if builder is None:
        known = ", ".join(sorted(BUILDERS))
        raise InvalidRequest(f"provider {provider.name!r}: unknown billing source {config.get('source')!r} ({known})")
    for key, url in config.items():  # the provider's credentials go there too: the same allow-list
        if (key.endswith("endpoint_url") or key == "account_url") and url:
            kind = "azure_blob" if key == "account_url" else provider.kind  # a storage account's own hosts
            try:
                check_endpoint(kind, str(url))
            except OutboundRefused as exc:
                raise InvalidRequest(f"provider {provider.name!r}: billing {key}: {exc}") from None
    return builder(BuildContext(provider, config, layout, cipher))


def billing_sources(session: Session, layout: HomeLayout, cipher: Cipher | None = None) -> list[BillingSource]:
    """A source for every active provider whose bills WedCloud reads (ordered by name; each
    source's id is its provider's stable key, ``provider_keys.source_key``)."""
    sources = []
    for provider in session.scalars(select(Provider).where(Provider.status == "active").order_by(Provider.name)):
        source = billing_source_for(provider, layout, cipher)
        if source is not None:
            sources.append(source)
    return sources


def billing_source(session: Session, layout: HomeLayout, *, key: str, cipher: Cipher | None = None) -> BillingSource:
    """The billing source of the provider a partition's key names (its id; a name before re-keying)."""
    provider = find_provider(session, key)
    if provider is None:
        raise NotFound(f"no provider with key {key!r} (billing partitions are keyed by provider id)")
    source = billing_source_for(provider, layout, cipher)
    if source is None:
        raise NotFound(f"provider {provider.name!r} has no billing source configured")
    return source
