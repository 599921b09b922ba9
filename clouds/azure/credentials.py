"""Azure credentials from a registered provider: a service principal, a token obtained
elsewhere, or the SDK's own chain; and the options every SDK client is built with."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from azure.core.credentials import AccessToken, TokenCredential
from azure.core.pipeline import PipelineRequest
from azure.core.pipeline.policies import SansIOHTTPPolicy

from clouds.endpoints import is_local_http

ARM_SCOPE = "https://management.azure.com/.default"


def credential_for(credentials: dict[str, Any] | None) -> TokenCredential:
    """A service principal (secret or certificate), an access token obtained elsewhere (for
    example ``az account get-access-token``), or with no credentials the SDK's own chain."""
    from azure.identity import CertificateCredential, ClientSecretCredential, DefaultAzureCredential

    if not credentials:
        return DefaultAzureCredential()
    if credentials.get("access_token"):
        return StaticToken(credentials["access_token"])
    tenant, client_id = credentials.get("tenant_id"), credentials.get("client_id")
    if tenant and client_id and credentials.get("client_secret"):
        return ClientSecretCredential(tenant, client_id, credentials["client_secret"])
    if tenant and client_id and credentials.get("certificate"):
        return CertificateCredential(tenant, client_id, certificate_data=credentials["certificate"].encode())
    raise ValueError(
        "Azure credentials are a service principal (tenant_id, client_id and client_secret or certificate) "
        "or an access_token"
    )


class StaticToken:
    """A bearer token obtained elsewhere; the SDK sends it until it expires (an hour assumed)."""

    def __init__(self, value: str) -> None:
        self.value = value

    def get_token(self, *scopes: str, **kwargs: Any) -> AccessToken:
        return AccessToken(self.value, int(datetime.now(UTC).timestamp()) + 3600)


class AllowHttp(SansIOHTTPPolicy):  # type: ignore[type-arg]
    """Lets the SDK send a bearer token over plain http, per call: only for local emulators."""

    def on_request(self, request: PipelineRequest) -> None:  # type: ignore[type-arg]
        request.context.options["enforce_https"] = False


def client_options(endpoint_url: str | None) -> dict[str, Any]:
    """Keyword arguments for an SDK client: a different endpoint (sovereign cloud, emulator) and,
    for a local emulator only, permission to send the token over http."""
    options: dict[str, Any] = {}
    if endpoint_url:
        options["base_url"] = endpoint_url
    if is_local_http(endpoint_url):
        options["per_call_policies"] = [AllowHttp()]
    return options
