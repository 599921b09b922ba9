"""Google Cloud credentials from a registered provider (a service account key, a token obtained
elsewhere, or Application Default Credentials), and the client options every client takes."""

from __future__ import annotations

from typing import Any

from clouds.endpoints import is_local_http
from clouds.errors import AuthenticationFailed

SCOPES = ("https://www.googleapis.com/auth/cloud-platform",)


def credentials_for(credentials: dict[str, Any] | None, endpoint_url: str | None = None) -> Any:
    """A service account key (the JSON Google issues), an access token obtained elsewhere, or
    None for Application Default Credentials (AuthenticationFailed when the machine has none).
    A local emulator given no credentials gets anonymous ones (given a key, it gets the key:
    emulators check credentials too)."""
    from google.auth.credentials import AnonymousCredentials

    if not credentials:
        if is_local_http(endpoint_url):
            return AnonymousCredentials()  # type: ignore[no-untyped-call]
        return application_default()
    if credentials.get("type") == "service_account":
        from google.oauth2 import service_account

        return service_account.Credentials.from_service_account_info(credentials, scopes=SCOPES)  # type: ignore[no-untyped-call]
    if credentials.get("access_token"):
        from google.oauth2.credentials import Credentials

        return Credentials(credentials["access_token"])  # type: ignore[no-untyped-call]
    raise ValueError("Google Cloud credentials must be a service account key or an access_token")


def application_default() -> Any:
    """This machine's Application Default Credentials, or AuthenticationFailed naming what is
    missing (the clients would otherwise raise google.auth's own error when they are built)."""
    import google.auth
    from google.auth.exceptions import DefaultCredentialsError

    try:
        found, _project = google.auth.default(scopes=SCOPES)
    except DefaultCredentialsError:
        raise AuthenticationFailed(
            "the provider has no stored credentials and this server has no Google Application Default "
            "Credentials (GOOGLE_APPLICATION_CREDENTIALS, gcloud's or the metadata server's); "
            "store a service account key on the provider"
        ) from None
    return found


def client_options(endpoint_url: str | None) -> Any:
    from google.api_core.client_options import ClientOptions

    return ClientOptions(api_endpoint=endpoint_url) if endpoint_url else None
