"""An optimisation delete takes its snapshot first and waits until the cloud reports it whole
before deleting anything: through the API and the real SDKs against the Compute Engine and ARM
emulators over HTTP, whose snapshots stay in progress for a few reads. A snapshot that fails
leaves the disk in place and the apply failed; an apply whose process dies while it waits is put
back by the reconciler without a second snapshot or a delete."""

from __future__ import annotations

import uuid
from typing import Any

import pytest
from sqlalchemy.orm import Session

from clouds.gcp.provider import GcpCloud
from control_plane.crypto import load_cipher
from control_plane.security import Role
from control_plane.services import applying, operations
from control_plane.services import optimisation as recommendations
from control_plane.services.providers import adapter_for
from control_plane.store.db import make_sessionmaker
from control_plane.store.models import Provider, RecommendationRow
from tests.control_api.conftest import Api
from tests.control_api.test_azure_provider import SUBSCRIPTION
from tests.control_api.test_azure_provider import _register as _register_azure
from tests.control_api.test_gcp_provider import PROJECT
from tests.control_api.test_gcp_provider import _register as _register_gcp
from tests.control_api.test_operation_recovery import Crash, Faulty, _expire_leases, _reconcile
from tests.control_api.test_optimisation import URL, _aws_account, _done, _rec, _store
from tests.emulators.azure_compute import AzureComputeEmulator, ManagedDisk
from tests.emulators.fault_proxy import FaultProxy
from tests.emulators.google_compute import Disk, GoogleComputeEmulator

pytestmark = pytest.mark.integration

ZONE = "europe-west2-b"
GCP_DISK = f"projects/{PROJECT}/zones/{ZONE}/disks/old-data"
BACKOFF = 0.002  # the Google SDK's first retry: 2 ms doubling, given up (Throttled) after 0.24 s


def _gcp_disk(api: Api, emulator: GoogleComputeEmulator) -> tuple[str, Disk]:
    """A registered project holding an unattached 120 GB disk, and a stored delete of it."""
    emulator.add_project(PROJECT)
    disk = emulator.add_disk(Disk(PROJECT, ZONE, "old-data", 120))
    _register_gcp(api, emulator)
    rec = _rec(GCP_DISK, kind="unattached_disk", action="delete", target=None, provider="wedsync-gcp")
    _store(api, [rec], providers=("wedsync-gcp",))
    return rec.id, disk


@pytest.fixture(autouse=True)
def quick_looks(monkeypatch: pytest.MonkeyPatch) -> None:
    """The emulators keep a snapshot uploading for a few reads: look again after 10 ms, not 1 s."""
    monkeypatch.setattr(applying, "WAIT", applying.SnapshotWait(poll_seconds=0.01, max_poll_seconds=0.04))


def _apply(api: Api, rec_id: str) -> dict[str, Any]:
    return _done(api, api.client.post(f"{URL}/{rec_id}/apply", json={}, headers=api.headers(Role.OPERATOR)))


def _apply_crashing_at(api: Api, rec_id: str, method: str) -> None:
    """Apply as the API does, with the process dying (``Crash``) at the adapter's first ``method``."""
    settings = api.client.app.state.settings  # type: ignore[attr-defined]
    cipher = load_cipher(settings.layout.root, environment=settings.environment)

    def adapters(provider: Provider, session: Session) -> Any:
        return Faulty(adapter_for(provider, session=session, layout=settings.layout, cipher=cipher), method, Crash())

    _apply_with(api, rec_id, adapters)


def _apply_with(api: Api, rec_id: str, adapters: Any, wait: applying.SnapshotWait | None = None) -> uuid.UUID:
    """Apply as the API does, through ``adapters`` and waiting for the snapshot as ``wait`` says."""
    sessions = make_sessionmaker(api.engine)
    with sessions() as session:
        row = recommendations.get_recommendation(session, rec_id)
        operation, _ = recommendations.begin_apply(session, row, actor="test", idempotency_key=None)
        operation_id: uuid.UUID = operation.id
        session.commit()
    work = applying.apply_work(adapters, operation_id, rec_id, actor="test", wait=wait)
    operations.execute(sessions, operation_id, work)
    return operation_id


def _row(api: Api, rec_id: str) -> RecommendationRow:
    with Session(api.engine) as session:
        row = session.get(RecommendationRow, rec_id)
        assert row is not None
        return row


def test_a_google_disk_is_deleted_only_once_its_snapshot_is_ready(
    api: Api, google_compute: GoogleComputeEmulator
) -> None:
    rec_id, disk = _gcp_disk(api, google_compute)
    google_compute.snapshots.uploading_reads = 2  # still uploading when the adapter first reads it
    operation = _apply(api, rec_id)
    # at the moment the disk was deleted, its snapshot (this apply's own) was whole
    name = applying.snapshot_name(rec_id, uuid.UUID(operation["id"]))
    assert google_compute.snapshots.disk_deletes == [(disk.self_link, {name: "READY"})]
    assert operation["status"] == "succeeded", operation
    snapshot = operation["result"]["snapshot"]
    assert snapshot["state"] == "completed"
    assert snapshot["completed_at"] is not None
    assert (PROJECT, ZONE, "old-data") not in google_compute.disks


def test_a_google_snapshot_that_fails_leaves_the_disk_and_fails_the_apply_saying_why(
    api: Api, google_compute: GoogleComputeEmulator
) -> None:
    rec_id, _ = _gcp_disk(api, google_compute)
    google_compute.snapshots.uploading_reads, google_compute.snapshots.uploads_fail = 2, True
    operation = _apply(api, rec_id)
    assert operation["status"] == "failed", operation
    detail = operation["error"]["detail"]
    assert "failed" in detail
    assert f"{GCP_DISK} was not deleted" in detail
    assert google_compute.snapshots.disk_deletes == []
    assert (PROJECT, ZONE, "old-data") in google_compute.disks
    assert google_compute.snapshots.snapshots == {}  # the failed one was deleted: applying again takes a new one
    row = _row(api, rec_id)
    assert (row.status, row.outcome["result"]) == ("failed", "failed")


def test_an_apply_whose_process_died_waiting_for_its_snapshot_is_put_back_without_a_delete(
    api: Api, google_compute: GoogleComputeEmulator
) -> None:
    rec_id, _ = _gcp_disk(api, google_compute)
    google_compute.snapshots.uploading_reads = 2
    with pytest.raises(Crash):  # the process dies at the first look at the snapshot still uploading
        _apply_crashing_at(api, rec_id, "describe_snapshot")
    _expire_leases(api)
    assert len(_reconcile(api).resumed) == 1
    row = _row(api, rec_id)
    assert row.status == "reverted"
    assert "while its snapshot was being made; nothing was deleted" in row.outcome["reason"]
    assert (PROJECT, ZONE, "old-data") in google_compute.disks
    assert google_compute.snapshots.disk_deletes == []
    (taken,) = [name for _, name in google_compute.snapshots.snapshots]  # no second one
    assert taken.startswith(f"wedcloud-{rec_id}-")


def test_an_azure_disk_is_deleted_only_once_its_snapshot_is_whole(
    api: Api, azure_compute: AzureComputeEmulator
) -> None:
    azure_compute.add_subscription(SUBSCRIPTION)
    disk = azure_compute.add_disk(ManagedDisk(SUBSCRIPTION, "web", "old-data", "uksouth", 64, sku="Premium_LRS"))
    _register_azure(api, azure_compute)
    rec = _rec(disk.id, kind="unattached_disk", action="delete", target=None, provider="wedsync-azure")
    _store(api, [rec], providers=("wedsync-azure",))
    azure_compute.recovery.snapshot_percent, azure_compute.recovery.percent_per_read = 10.0, 30.0
    operation = _apply(api, rec.id)
    ((deleted, snapshots),) = azure_compute.recovery.disk_deletes
    assert deleted.lower() == disk.id.lower()
    assert snapshots == {applying.snapshot_name(rec.id, uuid.UUID(operation["id"])): 100.0}  # whole when it went
    assert operation["status"] == "succeeded", operation
    assert operation["result"]["snapshot"]["state"] == "completed"
    assert azure_compute.disks == {}


def test_a_throttled_look_at_the_snapshot_is_asked_again_later_and_the_looks_back_off(
    api: Api, google_compute: GoogleComputeEmulator
) -> None:
    """Compute Engine throttles every read of the snapshot for a while (longer than the SDK's own
    retries last): the apply asks again after its next pause instead of failing, and its pauses
    double up to their cap."""
    rec_id, disk = _gcp_disk(api, google_compute)
    google_compute.snapshots.uploading_reads = 4
    reads = f"/compute/v1/projects/{PROJECT}/global/snapshots/wedcloud-"
    pauses: list[float] = []
    read_counts: list[int] = []  # reads of the snapshot so far, at each pause

    def sleep(seconds: float) -> None:  # the wait's pause; the cloud throttles the look after the first
        pauses.append(seconds)
        read_counts.append(sum(1 for _, path in google_compute.requests if path.startswith(reads)))
        google_compute.throttle(10**6 if len(pauses) == 1 else 0, 429, reads)

    def adapters(provider: Provider, session: Session) -> Any:  # the real adapter, retrying briefly
        return GcpCloud(google_compute.service_account(), project_id=PROJECT, endpoint_url=google_compute.url,
                        backoff=BACKOFF)  # fmt: skip

    wait = applying.SnapshotWait(poll_seconds=0.001, max_poll_seconds=0.004, sleep=sleep)
    operation_id = _apply_with(api, rec_id, adapters, wait)
    row = _row(api, rec_id)
    assert (row.status, row.outcome["result"]) == ("applied", "applied"), row.outcome
    assert read_counts[1] - read_counts[0] > 2  # the first look: throttled, retried by the SDK, given up
    name = applying.snapshot_name(rec_id, operation_id)
    assert google_compute.snapshots.disk_deletes == [(disk.self_link, {name: "READY"})]
    assert pauses[:4] == [0.001, 0.002, 0.004, 0.004]


def test_applying_a_delete_again_on_aws_takes_a_new_ebs_snapshot_after_the_failed_apply_and_only_then_deletes(
    api: Api, moto_endpoint: str, aws_keys: dict[str, str]
) -> None:
    """The first apply snapshots the volume and EC2 refuses the delete: the volume stays. Applying
    again (a new operation) must take a new snapshot, not answer with the first apply's one by
    name, before it deletes the volume."""
    proxy = FaultProxy(moto_endpoint)
    try:
        ec2 = _aws_account(api, proxy.url, aws_keys)
        volume = ec2.create_volume(AvailabilityZone="eu-west-2a", Size=40)["VolumeId"]
        rec = _rec(volume, kind="unattached_disk", action="delete", target=None, provider="wedsync-aws")
        _store(api, [rec], providers=("wedsync-aws",))
        proxy.inject("DeleteVolume", "refuse")
        failed = _apply(api, rec.id)
        assert ("DeleteVolume", "refuse") in proxy.injected
        assert failed["result"]["result"] == "reverted", failed
        first = failed["result"]["snapshot"]["id"]
        proxy.clear()
        operation = _apply(api, rec.id)
        assert operation["status"] == "succeeded", operation
        second = operation["result"]["snapshot"]["id"]
        assert second != first
        assert proxy.seen.index("CreateSnapshot") < proxy.seen.index("DeleteVolume")
        taken = {s["SnapshotId"]: s for s in ec2.describe_snapshots(SnapshotIds=[first, second])["Snapshots"]}
        assert taken[second]["StartTime"] >= taken[first]["StartTime"]
        assert (taken[second]["VolumeId"], taken[second]["State"]) == (volume, "completed")
        assert ec2.describe_volumes(Filters=[{"Name": "volume-id", "Values": [volume]}])["Volumes"] == []
    finally:
        proxy.stop()
