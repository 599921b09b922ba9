"""Shared fixtures: temporary homes, state stores on SQLite and PostgreSQL, API clients."""

from __future__ import annotations

import os
import secrets
import signal
import socket
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import Engine, create_engine, text
from sqlalchemy.engine import make_url

from control_plane.store.db import make_engine
from control_plane.store.migrate import upgrade
from tests.browser import Chromium, find_chromium
from tests.demo_world import Demo, demo_copy
from tests.emulators.azure_arm import AzureArmEmulator
from tests.emulators.azure_compute import AzureComputeEmulator
from tests.emulators.google_compute import GoogleComputeEmulator
from tests.emulators.google_rest import GoogleRestEmulator


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Files holding a slow test first. With ``--dist=loadfile`` each worker takes whole files in
    collection order, so a minutes-long file reached last leaves the other worker idle meanwhile."""
    slow = {item.path for item in items if item.get_closest_marker("slow")}
    items.sort(key=lambda item: item.path not in slow)  # a stable sort: each file keeps its order


IN_CI = os.environ.get("CI", "").lower() in ("1", "true", "yes")
# The emulators and the test receivers (health URLs, webhooks) listen on 127.0.0.1, which a
# server refuses by default (docs/outbound.md); tests of the refusals turn these off again.
os.environ.setdefault("WEDCLOUD_OUTBOUND_ALLOW_EMULATORS", "true")
os.environ.setdefault("WEDCLOUD_OUTBOUND_ALLOW_PRIVATE", "true")
POSTGRES_ADMIN_URL = os.environ.get("WEDCLOUD_TEST_POSTGRES_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/test")


def require(condition: bool, reason: str) -> None:
    """Skip when a prerequisite is missing on a developer machine; fail under CI."""
    if condition:
        return
    if IN_CI:
        pytest.fail(f"prerequisite missing under CI: {reason}")
    pytest.skip(reason)


@pytest.fixture(scope="session")
def postgres_server() -> str:
    try:
        probe = create_engine(POSTGRES_ADMIN_URL, isolation_level="AUTOCOMMIT")
        with probe.connect() as connection:
            connection.execute(text("SELECT 1"))
        probe.dispose()
        reachable = True
    except Exception as exc:
        reachable, reason = False, f"PostgreSQL not reachable at {POSTGRES_ADMIN_URL}: {exc}"
    require(reachable, reason if not reachable else "")
    return POSTGRES_ADMIN_URL


def _database(server: str, template: str | None = None) -> Iterator[str]:
    """A new database on the server (a copy of ``template``, or empty), dropped afterwards."""
    name = f"wedcloud_test_{secrets.token_hex(4)}"
    admin = create_engine(server, isolation_level="AUTOCOMMIT")
    with admin.connect() as connection:
        connection.execute(text(f'CREATE DATABASE "{name}"' + (f' TEMPLATE "{template}"' if template else "")))
    try:
        yield make_url(server).set(database=name).render_as_string(hide_password=False)
    finally:
        with admin.connect() as connection:
            connection.execute(
                text("SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = :name"), {"name": name}
            )
            connection.execute(text(f'DROP DATABASE IF EXISTS "{name}"'))
        admin.dispose()


@pytest.fixture(scope="session")
def postgres_template(postgres_server: str) -> Iterator[str]:
    """A database migrated to head once per run: copying it (CREATE DATABASE ... TEMPLATE) is
    several times faster than migrating every test's database."""
    for url in _database(postgres_server):
        engine = make_engine(url)
        upgrade(engine)
        engine.dispose()
        yield make_url(url).database or ""


@pytest.fixture
def postgres_url(postgres_server: str) -> Iterator[str]:
    """A fresh, empty database on the PostgreSQL server, dropped afterwards."""
    yield from _database(postgres_server)


@pytest.fixture
def migrated_postgres_url(postgres_server: str, postgres_template: str) -> Iterator[str]:
    """A fresh database already at the migrations' head (a copy of the session's template)."""
    yield from _database(postgres_server, postgres_template)


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.integration)])
def store_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """The state store URL, once for SQLite and once for PostgreSQL (there already migrated:
    ``upgrade`` finds it at head)."""
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'state.db'}"
    url: str = request.getfixturevalue("migrated_postgres_url")
    return url


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.integration)])
def empty_store_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """An empty state store on each engine, for tests of the migrations themselves."""
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'state.db'}"
    url: str = request.getfixturevalue("postgres_url")
    return url


@pytest.fixture
def engine(store_url: str) -> Iterator[Engine]:
    """A migrated state store on each engine."""
    engine = make_engine(store_url)
    upgrade(engine)
    yield engine
    engine.dispose()


@pytest.fixture
def sqlite_engine(tmp_path: Path) -> Iterator[Engine]:
    engine = make_engine(f"sqlite:///{tmp_path / 'state.db'}")
    upgrade(engine)
    yield engine
    engine.dispose()


@pytest.fixture(scope="session")
def moto_endpoint() -> Iterator[str]:
    """A real moto server over HTTP (all AWS services moto emulates), on a free port."""
    from moto.server import ThreadedMotoServer

    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    yield f"http://{host}:{port}"
    server.stop()


@pytest.fixture
def aws_keys(moto_endpoint: str) -> Iterator[dict[str, str]]:
    """Test credentials for moto, and a clean moto state for each test."""
    import urllib.request

    yield {"access_key_id": "AKIAIOSFODNN7EXAMPLE", "secret_access_key": "testing-secret-not-real"}
    request = urllib.request.Request(f"{moto_endpoint}/moto-api/reset", method="POST")  # noqa: S310
    urllib.request.urlopen(request).close()  # noqa: S310


EMULATORS_DIR = Path(__file__).parent / "emulators"
AZURITE_BLOB = EMULATORS_DIR / "node" / "node_modules" / ".bin" / "azurite-blob"
# Azurite's published development account (https://learn.microsoft.com/azure/storage/common/storage-use-azurite)
AZURITE_ACCOUNT = "devstoreaccount1"
AZURITE_KEY = "Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw=="


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


def wait_for_port(port: int, process: subprocess.Popen[bytes], seconds: float) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
            return
        except OSError:
            if process.poll() is not None:
                output = process.stdout.read().decode() if process.stdout else ""
                raise RuntimeError(f"emulator exited with {process.returncode}: {output}") from None
            time.sleep(0.05)
    raise RuntimeError(f"emulator did not listen on port {port} within {seconds} s")


def stop_group(process: subprocess.Popen[bytes]) -> None:
    """Stop a server started in its own process group: SIGTERM, then SIGKILL if it lingers."""
    try:
        os.killpg(process.pid, signal.SIGTERM)
        process.wait(5)
    except subprocess.TimeoutExpired:
        os.killpg(process.pid, signal.SIGKILL)
        process.wait(5)
    except ProcessLookupError:
        pass


@pytest.fixture(scope="session")
def azurite(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """Azurite's Blob service (npm, installed by ./dev test) on a free port; yields a
    connection string for its development account."""
    require(AZURITE_BLOB.exists(), f"Azurite is missing ({AZURITE_BLOB}): run ./dev test or npm ci there")
    port = free_port()
    location = tmp_path_factory.mktemp("azurite")
    command = [str(AZURITE_BLOB), "--blobHost", "127.0.0.1", "--blobPort", str(port), "--location", str(location)]
    command += ["--silent", "--disableTelemetry", "--skipApiVersionCheck"]
    process = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, start_new_session=True)
    try:
        wait_for_port(port, process, 30)
        yield (
            f"DefaultEndpointsProtocol=http;AccountName={AZURITE_ACCOUNT};AccountKey={AZURITE_KEY};"
            f"BlobEndpoint=http://127.0.0.1:{port}/{AZURITE_ACCOUNT};"
        )
    finally:
        stop_group(process)


@pytest.fixture(scope="session")
def azure_arm_server() -> Iterator[AzureArmEmulator]:
    """The project's Azure Resource Manager emulator (tests/emulators/azure_arm.py)."""
    emulator = AzureArmEmulator().start()
    yield emulator
    emulator.stop()


@pytest.fixture
def azure_arm(azure_arm_server: AzureArmEmulator) -> Iterator[AzureArmEmulator]:
    """The ARM emulator, emptied after each test."""
    yield azure_arm_server
    azure_arm_server.reset()


@pytest.fixture(scope="session")
def azure_compute_server() -> Iterator[AzureComputeEmulator]:
    """The ARM emulator with subscriptions, resource groups and virtual machines."""
    emulator = AzureComputeEmulator().start()
    yield emulator
    emulator.stop()


@pytest.fixture
def azure_compute(azure_compute_server: AzureComputeEmulator) -> Iterator[AzureComputeEmulator]:
    yield azure_compute_server
    azure_compute_server.reset()


@pytest.fixture(scope="session")
def google_compute_server() -> Iterator[GoogleComputeEmulator]:
    """The project's Compute Engine emulator (tests/emulators/google_compute.py)."""
    emulator = GoogleComputeEmulator().start()
    yield emulator
    emulator.stop()


@pytest.fixture
def google_compute(google_compute_server: GoogleComputeEmulator) -> Iterator[GoogleComputeEmulator]:
    yield google_compute_server
    google_compute_server.reset()


REPO = Path(__file__).parent.parent
BQ_EMULATOR_PYTHON = REPO / ".tools" / "bqemulator" / "bin" / "python"
BQ_PROJECT = "wedcloud-test"


@pytest.fixture(scope="session")
def bigquery_emulator(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """bqemulator (PyPI) from its own environment, on a free port; yields its endpoint URL.
    Data lives in memory for the session; tests use a dataset each."""
    require(BQ_EMULATOR_PYTHON.exists(), f"bqemulator is missing ({BQ_EMULATOR_PYTHON}): run ./dev test")
    port = free_port()
    home = REPO / ".tools" / "bqemulator" / "home"  # DuckDB keeps its extensions under $HOME
    home.mkdir(exist_ok=True)
    log = tmp_path_factory.mktemp("bqemulator") / "bqemulator.log"
    command = [str(BQ_EMULATOR_PYTHON), str(EMULATORS_DIR / "bigquery" / "launch.py"), "start"]
    command += ["--rest-host", "127.0.0.1", "--rest-port", str(port), "--grpc-port", "0"]
    command += ["--project", BQ_PROJECT, "--log-level", "warning"]
    with open(log, "wb") as output:
        process = subprocess.Popen(
            command,
            stdout=output,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            env=os.environ | {"HOME": str(home)},
            start_new_session=True,
        )
    try:
        url = f"http://127.0.0.1:{port}"
        wait_for_http(f"{url}/bigquery/v2/projects/{BQ_PROJECT}/datasets", process, 60, log)
        yield url
    finally:
        stop_group(process)


def wait_for_http(url: str, process: subprocess.Popen[bytes], seconds: float, log: Path) -> None:
    import urllib.request

    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        try:
            urllib.request.urlopen(url, timeout=1).close()  # noqa: S310 - a local emulator
            return
        except OSError:
            if process.poll() is not None:
                raise RuntimeError(f"emulator exited with {process.returncode}: {log.read_text()[-2000:]}") from None
            time.sleep(0.1)
    raise RuntimeError(f"emulator did not answer {url} within {seconds} s: {log.read_text()[-2000:]}")


@pytest.fixture(scope="session")
def google_rest_server() -> Iterator[GoogleRestEmulator]:
    """The project's Google Cloud REST emulator (tests/emulators/google_rest.py)."""
    emulator = GoogleRestEmulator().start()
    yield emulator
    emulator.stop()


@pytest.fixture
def google_rest(google_rest_server: GoogleRestEmulator) -> Iterator[GoogleRestEmulator]:
    yield google_rest_server
    google_rest_server.reset()


@pytest.fixture(scope="module")
def demo(tmp_path_factory: pytest.TempPathFactory, request: pytest.FixtureRequest) -> Demo:
    """A private copy of the demo's world on 2026-12-06 (tests/demo_world.py), one per module."""
    return demo_copy(tmp_path_factory, request.module.__name__.rsplit(".", 1)[-1])


@pytest.fixture(scope="session")
def chromium() -> Chromium:
    """Debian's headless chromium, for the tests that open a page in a real browser."""
    path = find_chromium()
    require(path is not None, "Chromium is missing: ./dev test installs Debian's chromium (apt-get install chromium)")
    assert path is not None
    return Chromium(path)
