"""Billing sources of registered providers: what the billing pipeline ingests.

A provider's ``settings["billing"]`` says where its bills are:
``{"source": "sandbox"}`` (the default for sandbox providers), ``{"source": "folder", "path":
..., "format": ...}`` for exports someone already downloads, and the cloud sources (S3 CUR,
Cost Explorer, Blob exports, Cost Management Query, BigQuery) that need credentials.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from clouds.billing import BillingSource
from clouds.sandbox.billing_source import SandboxBillingSource
from clouds.sandbox.catalog import FlavourKey
from clouds.sources.folder import FolderSource
from control_api.services.errors import InvalidRequest, NotFound
from control_api.store.models import Provider
from wedcloud.home import HomeLayout

SourceBuilder = Callable[[Provider, dict[str, Any], HomeLayout], BillingSource]


def _sandbox(provider: Provider, config: dict[str, Any], layout: HomeLayout) -> BillingSource:
    return SandboxBillingSource(provider.name, layout.exports, FlavourKey(provider.settings["flavour"]))


def _folder(provider: Provider, config: dict[str, Any], layout: HomeLayout) -> BillingSource:
    if "path" not in config:
        raise InvalidRequest(f"provider {provider.name!r}: a folder billing source needs a 'path'")
    return FolderSource(provider.name, Path(config["path"]).expanduser(), config.get("format"))


BUILDERS: dict[str, SourceBuilder] = {"sandbox": _sandbox, "folder": _folder}


def billing_config(provider: Provider) -> dict[str, Any] | None:
    config = provider.settings.get("billing")
    if config is None and provider.kind == "sandbox":
        return {"source": "sandbox"}
    return dict(config) if config else None


def billing_source_for(provider: Provider, layout: HomeLayout) -> BillingSource | None:
    config = billing_config(provider)
    if config is None:
        return None
    builder = BUILDERS.get(config.get("source", ""))
    if builder is None:
        raise InvalidRequest(f"provider {provider.name!r}: unknown billing source {config.get('source')!r}")
    return builder(provider, config, layout)


def billing_sources(session: Session, layout: HomeLayout) -> list[BillingSource]:
    """A source for every active provider whose bills WedCloud reads, by provider name."""
    sources = []
    for provider in session.scalars(select(Provider).where(Provider.status == "active").order_by(Provider.name)):
        source = billing_source_for(provider, layout)
        if source is not None:
            sources.append(source)
    return sources


def billing_source(session: Session, layout: HomeLayout, *, name: str) -> BillingSource:
    provider = session.scalar(select(Provider).where(Provider.name == name))
    if provider is None:
        raise NotFound(f"no provider named {name!r} (billing partitions are named after providers)")
    source = billing_source_for(provider, layout)
    if source is None:
        raise NotFound(f"provider {name!r} has no billing source configured")
    return source
