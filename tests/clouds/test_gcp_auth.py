"""The Google emulators say no: a call without a token, a key Google does not know and a service
account without a grant are refused, and the adapter reports each as what it is."""

from __future__ import annotations

import pytest
from google.auth.exceptions import RefreshError
from google.auth.transport.requests import Request
from google.oauth2 import service_account

from clouds.gcp.credentials import SCOPES
from clouds.gcp.provider import GcpCloud
from tests.emulators.google_auth import OWNER
from tests.emulators.google_compute import GoogleComputeEmulator

pytestmark = pytest.mark.integration

PROJECT = "wedsync-prod"
READER = "reader@wedsync-prod.iam.gserviceaccount.com"
READS = ("compute.projects.get", "compute.instances.list", "compute.disks.list",
         "compute.instanceGroupManagers.list", "compute.addresses.list", "storage.buckets.list")  # fmt: skip


def _check(emulator: GoogleComputeEmulator, credentials: dict[str, str] | None) -> tuple[bool, str, list[str]]:
    cloud = GcpCloud(credentials, project_id=PROJECT, endpoint_url=emulator.url)
    check = cloud.test_connection()
    return check.ok, check.detail, list(check.missing_permissions)


@pytest.mark.parametrize(
    ("who", "refusal"),
    [
        ("nobody", "Anonymous credentials cannot be refreshed"),
        ("a replaced key", "invalid authentication credentials"),
        ("an unknown account", "invalid authentication credentials"),
    ],
)
def test_a_caller_google_cannot_authenticate_fails_the_connection_test_as_unauthenticated(
    google_compute: GoogleComputeEmulator, who: str, refusal: str
) -> None:
    google_compute.add_project(PROJECT)
    credentials = {
        "nobody": lambda: None,
        "a replaced key": lambda: google_compute.service_account(OWNER, known=False),
        "an unknown account": lambda: (
            google_compute.service_account(READER) | {"client_email": "x@y.iam.gserviceaccount.com"}
        ),
    }[who]()
    ok, detail, _ = _check(google_compute, credentials)
    assert not ok
    assert detail.startswith("the project cannot be read")
    assert refusal in detail


def test_the_token_endpoint_issues_tokens_only_for_a_known_key(google_compute: GoogleComputeEmulator) -> None:
    known = service_account.Credentials.from_service_account_info(google_compute.service_account(), scopes=SCOPES)
    known.refresh(Request())
    assert known.token in google_compute.auth.tokens
    replaced = google_compute.service_account(OWNER, known=False)
    with pytest.raises(RefreshError, match="Invalid JWT Signature"):
        service_account.Credentials.from_service_account_info(replaced, scopes=SCOPES).refresh(Request())
    assert google_compute.auth.issued == 1


def test_a_service_account_missing_permissions_is_told_which(google_compute: GoogleComputeEmulator) -> None:
    google_compute.add_project(PROJECT)
    granted = set(READS) - {"compute.disks.list", "storage.buckets.list"}
    ok, detail, missing = _check(google_compute, google_compute.service_account(READER, {PROJECT: granted}))
    assert not ok
    assert missing == ["compute.disks.list", "storage.buckets.list"]
    assert detail.endswith("missing permissions: compute.disks.list, storage.buckets.list")
    ok, _, missing = _check(google_compute, google_compute.service_account(READER, {PROJECT: READS}))
    assert (ok, missing) == (True, [])


def test_a_service_account_without_a_grant_on_the_project_is_refused_naming_the_permission(
    google_compute: GoogleComputeEmulator,
) -> None:
    google_compute.add_project(PROJECT)
    elsewhere = google_compute.service_account(READER, {"wedsync-staging": READS})
    ok, detail, _ = _check(google_compute, elsewhere)
    assert not ok
    assert "Required 'compute.projects.get' permission for 'projects/wedsync-prod'" in detail
