"""An Azure Blob export source reached the other ways a provider can be configured (an account
URL with the account key), and the manifests Cost Management writes that name nothing or name
a blob that is not there. Against Azurite, through azure-storage-blob."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import date
from pathlib import Path

import pytest
from azure.storage.blob import BlobServiceClient, ContainerClient

from clouds.azure import billing as azure_billing
from tests.conftest import AZURITE_KEY

pytestmark = pytest.mark.integration
EXPORT = "costs/wedsync-actual"
FOLDER = f"{EXPORT}/20260101-20260131/run-1"
CSV = b"date,costInBillingCurrency,billingCurrency\n01/01/2026,1.5,GBP\n"


@pytest.fixture
def container(azurite: str, request: pytest.FixtureRequest) -> Iterator[ContainerClient]:
    service = BlobServiceClient.from_connection_string(azurite)
    client = service.get_container_client("b" + "".join(ch for ch in request.node.name.lower() if ch.isalnum())[:50])
    client.create_container()
    yield client
    client.delete_container()


def _account_url(connection_string: str) -> str:
    return next(p.split("=", 1)[1] for p in connection_string.split(";") if p.startswith("BlobEndpoint="))


def test_an_account_url_and_key_reach_the_same_container_as_the_connection_string(
    azurite: str, container: ContainerClient, tmp_path: Path
) -> None:
    container.upload_blob(f"{FOLDER}/part_0_0000.csv", CSV)
    by_key = azure_billing.blob_container({"account_key": AZURITE_KEY}, _account_url(azurite), container.container_name)
    source = azure_billing.BlobExportSource("azure-prod", by_key, EXPORT, tmp_path / "cache")
    (file,) = source.fetch(date(2026, 1, 1))
    assert file.path.read_bytes() == CSV


def test_a_blob_source_without_an_account_url_or_connection_string_is_refused() -> None:
    with pytest.raises(ValueError, match="needs account_url, or a connection string"):
        azure_billing.blob_container({"account_key": AZURITE_KEY}, None, "costs")


def test_a_manifest_that_names_no_blobs_leaves_every_data_blob_of_the_run(
    container: ContainerClient, tmp_path: Path
) -> None:
    container.upload_blob(f"{FOLDER}/part_0_0000.csv", CSV)
    container.upload_blob(f"{FOLDER}/part_0_0001.csv", CSV)
    container.upload_blob(f"{FOLDER}/manifest.json", json.dumps({"blobCount": 0, "blobs": []}).encode())
    source = azure_billing.BlobExportSource("azure-prod", container, EXPORT, tmp_path / "cache")
    assert sorted(f.path.name for f in source.fetch(date(2026, 1, 1))) == ["part_0_0000.csv", "part_0_0001.csv"]


def test_a_manifest_naming_a_blob_that_is_not_there_is_refused(container: ContainerClient, tmp_path: Path) -> None:
    container.upload_blob(f"{FOLDER}/part_0_0000.csv", CSV)
    manifest = {"blobs": [{"blobName": f"{FOLDER}/part_0_0000.csv"}, {"blobName": f"{FOLDER}/part_0_0001.csv"}]}
    container.upload_blob(f"{FOLDER}/manifest.json", json.dumps(manifest).encode())
    source = azure_billing.BlobExportSource("azure-prod", container, EXPORT, tmp_path / "cache")
    with pytest.raises(azure_billing.DownloadMismatch, match=r"not in the container: \['.*part_0_0001\.csv'\]"):
        source.months()
