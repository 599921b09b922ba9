"""A command that fails prints one line: what went wrong and what to do about it. The
traceback is for ``wedcloud --debug`` (or ``WEDCLOUD_DEBUG=1``).

Cloud SDK errors are read through each cloud's own translation into :mod:`clouds.errors`
(the adapters' ``translate``), so the CLI names a cause the way the API does.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

import typer
from typer.core import TyperGroup

from clouds.errors import AuthenticationFailed, CloudError, ResourceNotFound, Throttled
from control_plane.services.errors import ServiceError
from wedcloud.cli.context import console

DEBUG_HINT = "`wedcloud --debug ...` shows the traceback"


class ProviderFailed(Exception):
    """What a command raises from a provider's error to name the provider in the line:
    ``raise ProviderFailed(name) from exc``."""

    def __init__(self, provider: str) -> None:
        super().__init__(f"provider {provider!r} failed")
        self.provider = provider


@dataclass(frozen=True)
class Explanation:
    cause: str
    fix: str

    def line(self) -> str:
        return f"{self.cause}. Fix: {self.fix} ({DEBUG_HINT})"


def _one_line(text: str, limit: int = 400) -> str:
    flat = re.sub(r"\s+", " ", text).strip().rstrip(".")
    return flat if len(flat) <= limit else flat[: limit - 3] + "..."


def as_cloud_error(exc: BaseException) -> CloudError | None:
    """The :mod:`clouds.errors` error an SDK's exception stands for (None: not a cloud SDK's)."""
    if isinstance(exc, CloudError):
        return exc
    module = type(exc).__module__
    if module.startswith("botocore") or module.startswith("boto3"):
        from botocore.exceptions import BotoCoreError, ClientError

        from clouds.aws.api import translate as aws

        return aws(exc) if isinstance(exc, ClientError | BotoCoreError) else None
    if module.startswith("azure"):
        from clouds.azure.api import translate as azure

        return azure(exc)  # type: ignore[arg-type]
    if module.startswith("google"):
        from clouds.gcp.api import translate as gcp

        return gcp(exc)  # type: ignore[arg-type]
    return None


def explain(exc: BaseException) -> Explanation:
    """The cause of ``exc`` and the fix, for a person at a terminal."""
    provider = None
    if isinstance(exc, ProviderFailed) and exc.__cause__ is not None:
        provider, exc = exc.provider, exc.__cause__
    subject = f"{provider}: " if provider else ""
    settings = (
        f"check {provider}'s settings with `wedcloud billing list`; `wedcloud billing remove {provider}` "
        "removes a source added by mistake"
        if provider
        else "check the provider's settings (`wedcloud billing list`)"
    )
    cloud = as_cloud_error(exc)
    if isinstance(cloud, AuthenticationFailed):
        return Explanation(
            _one_line(subject + str(cloud)),
            "give the provider credentials that work (`wedcloud billing add --credentials-file`), or the SDK's own "
            "chain on this machine, with the permissions docs/billing-sources.md lists",
        )
    if isinstance(cloud, Throttled):
        return Explanation(
            _one_line(subject + str(cloud)),
            f"check that this machine reaches the cloud (network, proxy: HTTPS_PROXY), then {settings}; "
            "a busy cloud answers again later",
        )
    if isinstance(cloud, ResourceNotFound) or cloud is not None:
        return Explanation(_one_line(subject + str(cloud)), settings)
    if type(exc).__name__ == "MaterializationFailed":  # pipelines.materialize's, not imported here: Dagster
        return Explanation(
            _one_line(str(exc)),
            "the run's whole log is in the Dagster UI; check a source with `wedcloud billing months NAME`, "
            "remove one added by mistake with `wedcloud billing remove NAME`",
        )
    if isinstance(exc, ServiceError):
        return Explanation(_one_line(subject + str(exc)), "see `wedcloud billing list` for the registered providers")
    if isinstance(exc, FileNotFoundError):
        return Explanation(_one_line(subject + str(exc)), f"check the path; {settings}")
    if isinstance(exc, OSError):
        return Explanation(_one_line(subject + f"{type(exc).__name__}: {exc}"), "check the path and its permissions")
    return Explanation(_one_line(subject + f"{type(exc).__name__}: {exc}"), "run it again with --debug and report it")


class WedCloudGroup(TyperGroup):
    """The top command: an error a command did not handle is printed as one line (``explain``)
    and exits 1, unless ``--debug`` asks for the traceback."""

    def invoke(self, ctx: Any) -> Any:
        try:
            return super().invoke(ctx)
        except (typer.Exit, typer.Abort, typer.TyperException):  # typer's own: usage errors, exit codes
            raise
        except Exception as exc:
            if ctx.params.get("debug"):
                raise
            console.print(f"[red]error:[/] {explain(exc).line()}", soft_wrap=True)
            raise typer.Exit(1) from None
