"""Google Cloud credentials from a registered provider (a service account key, a token obtained
elsewhere, or Application Default Credentials), and the client options every client takes."""

from __future__ import annotations

from typing import Any

from clouds.endpoints import is_local_http

SCOPES = ("https://www.googleapis.com/auth/cloud-platform",)


def credentials_for(credentials: dict[str, Any] | None, endpoint_url: str | None = None) -> Any:
    """A service account key (the JSON Google issues), an access token obtained elsewhere, or
    None for Application Default Credentials. A local emulator given no credentials gets
    anonymous ones (given a key, it gets the key: emulators check credentials too)."""
    from google.auth.credentials import AnonymousCredentials

    if not credentials:
        return AnonymousCredentials() if is_local_http(endpoint_url) else None  # type: ignore[no-untyped-call]
    if credentials.get("type") == "service_account":
        from google.oauth2 import service_account

        return service_account.Credentials.from_service_account_info(credentials, scopes=SCOPES)  # type: ignore[no-untyped-call]
    if credentials.get("access_token"):
        from google.oauth2.credentials import Credentials

        return Credentials(credentials["access_token"])  # type: ignore[no-untyped-call]
    raise ValueError("Google Cloud credentials must be a service account key or an access_token")


def client_options(endpoint_url: str | None) -> Any:
    from google.api_core.client_options import ClientOptions

    return ClientOptions(api_endpoint=endpoint_url) if endpoint_url else None
