"""The Google emulators say no: a call without a token, a key Google does not know and a service
account without a grant are refused, and the adapter reports each as what it is; a call Google is
too busy for (429, 503) is retried with backoff, and reported as throttled when Google stays busy."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from google.auth.exceptions import RefreshError
from google.auth.transport.requests import Request
from google.oauth2 import service_account

from clouds.errors import Throttled
from clouds.gcp.billing import billing_catalog
from clouds.gcp.credentials import SCOPES
from clouds.gcp.provider import GcpCloud
from tests.emulators.google_auth import OWNER
from tests.emulators.google_compute import GoogleComputeEmulator, Instance
from tests.emulators.google_rest import GoogleRestEmulator
from tests.emulators.google_storage import Bucket

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


# -- throttling -------------------------------------------------------------------------------
BACKOFF = 0.002  # seconds before the first retry: 2 ms doubling, given up after 0.24 s


def _busy_cloud(emulator: GoogleComputeEmulator) -> GcpCloud:
    return GcpCloud(emulator.service_account(), project_id=PROJECT, endpoint_url=emulator.url, backoff=BACKOFF)


@pytest.mark.parametrize("status", [429, 503])
def test_calls_google_was_too_busy_for_are_retried_until_they_succeed(
    google_compute: GoogleComputeEmulator, status: int
) -> None:
    google_compute.add_instance(Instance(PROJECT, "europe-west2-a", "web-1", "e2-small"))
    google_compute.add_bucket(Bucket(PROJECT, "wedsync-archive"))
    cloud = _busy_cloud(google_compute)
    google_compute.throttle(3, status)  # the first read, then its first two retries
    assert {r.name for r in cloud.list_resources()} == {"web-1", "wedsync-archive"}
    google_compute.throttle(2, status)
    web = f"projects/{PROJECT}/zones/europe-west2-a/instances/web-1"
    cloud.tag(web, {"team": "bookings"})  # a change
    assert google_compute.instances[(PROJECT, "europe-west2-a", "web-1")].labels == {"team": "bookings"}
    end = datetime(2026, 11, 2, tzinfo=UTC)

    def monitoring_reads() -> int:  # Cloud Monitoring, read over an authorised session
        before = sum(1 for _, path in google_compute.requests if path.startswith("/v3/"))
        assert cloud.get_metrics([web], start=end - timedelta(hours=2), end=end).is_empty()
        return sum(1 for _, path in google_compute.requests if path.startswith("/v3/")) - before

    unthrottled = monitoring_reads()
    google_compute.throttle(2, status, path="/v3/")
    assert monitoring_reads() == unthrottled + 2  # two refused, each retried


def test_a_billing_catalog_read_is_retried_when_google_is_busy(google_rest: GoogleRestEmulator) -> None:
    google_rest.add_billing_account("0A0A0A-000000-000001", "WedSync EU")
    catalog = billing_catalog(google_rest.service_account(), google_rest.url, backoff=BACKOFF)
    google_rest.throttle(2)
    assert [a.account_id for a in catalog.billing_accounts()] == ["0A0A0A-000000-000001"]


def test_persistent_throttling_is_reported_as_throttled_not_a_server_error(
    google_compute: GoogleComputeEmulator,
) -> None:
    google_compute.add_project(PROJECT)
    cloud = _busy_cloud(google_compute)
    google_compute.throttle(10**6)
    with pytest.raises(Throttled, match=r"Google Cloud is busy: .*Quota exceeded"):
        list(cloud.list_resources())
    google_compute.throttle(10**6, 503)
    with pytest.raises(Throttled, match="Google Cloud is busy"):
        cloud.describe(f"projects/{PROJECT}/zones/europe-west2-a/instances/web-1")
    refused = sum(1 for _, path in google_compute.requests if path.startswith("/compute/"))
    assert refused > 4  # retried with backoff, then given up
