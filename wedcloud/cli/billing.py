"""``wedcloud billing``: register where a cloud account's bills are, and see what is there.

Loading happens in Dagster (the ``billing_exports`` sensor picks new providers and months up)
or at once with ``wedcloud materialize``. docs/billing-sources.md describes every source.
"""

from __future__ import annotations

import json
from enum import StrEnum
from pathlib import Path
from typing import Annotated, Any

import typer
from sqlalchemy import select

from control_plane.crypto import load_cipher
from control_plane.services import billing, provider_keys, providers
from control_plane.services.audit_log import record_change
from control_plane.services.errors import NotFound, ServiceError
from control_plane.store.db import transaction
from control_plane.store.models import Provider
from wedcloud.cli.audit import cli_actor
from wedcloud.cli.context import CliContext, console
from wedcloud.cli.failures import ProviderFailed

app = typer.Typer(
    no_args_is_help=True,
    help="Billing sources: which cloud account's bills WedCloud reads, from where, with which credentials.",
)


class Kind(StrEnum):
    aws = "aws"
    azure = "azure"
    gcp = "gcp"
    oci = "oci"


def _refuse(message: str) -> typer.Exit:
    console.print(f"[red]not added:[/] {message}")
    return typer.Exit(2)


def _settings(pairs: list[str]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for pair in pairs:
        key, sep, value = pair.partition("=")
        if not sep or not key:
            raise _refuse(f"--set takes key=value, not {pair!r}")
        out[key] = [v for v in value.split(",") if v] if key == "group_by" else value
    return out


def _credentials(path: Path | None) -> dict[str, Any] | None:
    if path is None:
        return None
    try:
        document = json.loads(path.read_text())
    except (OSError, json.JSONDecodeError) as error:
        raise _refuse(f"{path}: not a readable JSON file ({error})") from None
    if not isinstance(document, dict):
        raise _refuse(f"{path}: credentials are a JSON object")
    return document


@app.command("add")
def add(
    name: Annotated[str, typer.Argument(help="The provider's name; billing partitions are named after it.")],
    kind: Annotated[Kind, typer.Option(help="Which cloud.")],
    source: Annotated[
        str,
        typer.Option(help=f"Where the bills are: {', '.join(sorted(set(billing.BUILDERS) - {'sandbox'}))}."),
    ],
    setting: Annotated[
        list[str] | None,
        typer.Option("--set", help="A source setting as key=value, repeatable (e.g. --set bucket=wedsync-cur)."),
    ] = None,
    credentials_file: Annotated[
        Path | None,
        typer.Option(
            help="JSON credentials (AWS keys or role, Azure service principal or token, Google service account "
            "key, OCI customer secret key). Stored encrypted; without it the SDK's own chain is used."
        ),
    ] = None,
    region: Annotated[str | None, typer.Option(help="Default region (AWS: where the session starts).")] = None,
) -> None:
    """Register a cloud account whose bills WedCloud should read, and check that its billing
    source can be built from the settings (nothing is saved if it cannot)."""
    context = CliContext()
    cipher = load_cipher(context.settings.layout.root, environment=context.settings.environment)
    config = {"source": source} | _settings(setting or [])
    try:
        with transaction(context.sessions) as session:
            provider = providers.create_cloud_provider(
                session,
                cipher,
                kind=kind.value,
                name=name,
                default_region=region,
                credentials=_credentials(credentials_file),
                settings={"billing": config},
            )
            billing.billing_source_for(provider, context.settings.layout, cipher)
    except ServiceError as error:
        raise _refuse(str(error)) from None
    console.print(f"added {kind.value} provider [bold]{name}[/] reading bills from {source}")
    console.print("see what it has with `wedcloud billing months NAME`; load it with `wedcloud materialize`")


@app.command("list")
def list_sources() -> None:
    """Every provider and where its bills come from (credentials are never shown)."""
    context = CliContext()
    with transaction(context.sessions) as session:
        for provider in session.scalars(select(Provider).order_by(Provider.name)):
            config = billing.billing_config(provider) or {"source": "none"}
            details = ", ".join(f"{k}={v}" for k, v in sorted(config.items()) if k != "source")
            secret = "credentials stored" if provider.credentials_ciphertext else "ambient credentials"
            typer.echo(f"{provider.name:24} {provider.kind:8} {config['source']:20} {secret:20} {details}")


@app.command("months")
def months(name: Annotated[str, typer.Argument(help="The provider's name.")]) -> None:
    """Ask the provider's billing source which months it has, with the signature that changes
    when a month is restated. This calls the cloud with the stored credentials."""
    context = CliContext()
    cipher = load_cipher(context.settings.layout.root, environment=context.settings.environment)
    try:
        with transaction(context.sessions) as session:
            if provider_keys.find_provider(session, name) is None:
                raise NotFound(f"no provider named {name!r}; `wedcloud billing list` shows them")
            source = billing.billing_source(session, context.settings.layout, key=name, cipher=cipher)
    except ServiceError as error:
        console.print(f"[red]{error}[/]")
        raise typer.Exit(2) from None
    try:
        found = source.months()
    except Exception as exc:
        raise ProviderFailed(name) from exc
    if not found:
        console.print(f"{name}: no billing months found yet")
    for month, signature in sorted(found.items()):
        typer.echo(f"{month:%Y-%m}  {signature}")


@app.command("remove")
def remove(
    name: Annotated[str, typer.Argument(help="The provider's name, as `wedcloud billing list` shows it.")],
) -> None:
    """Remove a provider and its billing source (one added by mistake, say): its settings, its
    stored credentials and its billing partitions in Dagster, so no run asks for it again.
    Refused while WedCloud still manages active resources of it. What was already loaded stays in
    the warehouse and in Dagster's run history."""
    from pipelines.materialize import dagster_instance, forget_sources

    context = CliContext()
    try:
        with transaction(context.sessions) as session:
            provider = provider_keys.find_provider(session, name)
            if provider is None:
                raise NotFound(f"no provider named {name!r}; `wedcloud billing list` shows them")
            key, before = provider_keys.source_key(provider), providers.public_view(provider)
            providers.delete_provider(session, provider)
            record_change(
                session,
                actor=cli_actor(),
                action="provider.delete",
                target=f"provider:{key}",
                detail={"before": before},
                command="billing remove",
            )
    except ServiceError as error:
        console.print(f"[red]not removed:[/] {error}")
        raise typer.Exit(2) from None
    with dagster_instance(context.settings.layout.dagster_home) as instance:
        forgotten = forget_sources(instance, [key, name])  # and a partition named before re-keying
    partitions = f" and its billing partition{'s' if len(forgotten) > 1 else ''}" if forgotten else ""
    console.print(f"removed provider [bold]{name}[/] ({before['kind']}){partitions}")
