"""Deployments on the sandbox: a 200-resource template validated and planned, applied with
parallelism and serially, and rolled back.

Builds a state store (SQLite in a temporary directory, or ``--database-url``, an empty database)
with a small sandbox world and its three providers. The template has ``--resources`` resources
on sandbox-aws: all but one in ``--chains`` chains, each resource depending on the one before it
in its chain (instances, volumes, buckets and databases in turn, so every kind of step is made),
and a last resource that depends on the tail of every chain, so it is made after all the others.
Times, ``--repeat`` times each (a new deployment each run):

- validate and plan: ``service.begin_create(plan_only=True)`` (schema, parameters, providers,
  references and cycles, the catalogue, name clashes, estimates and the plan), written nowhere;
- apply with parallelism: ``begin_create`` committed, then the operation's work
  (``engine.apply_work(..., parallelism=--parallelism)``) through ``operations.execute`` until it
  ends, as the API runs it;
- the same apply serially (``parallelism=1``): the baseline;
- rollback: the same template with the sandbox refusing the last resource, so that 199 steps are
  done and then all 199 are undone; the whole failed apply is timed, and its rollback alone (from
  the ``rolling back`` log line to the version's last line).

The sandbox answers at once, so by default the ratio shows only what the state store allows in
parallel; ``--cloud-latency 0.2`` makes each call that changes the sandbox take 0.2 s, as a real
cloud's API does. Medians are printed with each run's figure, and the last line gives serial /
parallel.

    uv run python benchmarks/deployments.py [--resources 200] [--chains 40] [--repeat 3]
        [--parallelism 8] [--database-url URL] [--cloud-latency SECONDS]
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
import uuid
from collections.abc import Callable
from datetime import date
from pathlib import Path
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from clouds.base import CloudProvider, ProvisionRequest
from clouds.errors import UnsupportedRequest
from clouds.sandbox.world import build_world, save_world
from control_plane.deployments import engine as deployment_engine
from control_plane.deployments import service
from control_plane.services import operations
from control_plane.services.providers import adapter_for
from control_plane.services.sandbox import register_sandbox_providers
from control_plane.store.db import make_engine, make_sessionmaker
from control_plane.store.deployment_models import Deployment, DeploymentLog, DeploymentStep
from control_plane.store.migrate import upgrade
from control_plane.store.models import Operation, Provider
from wedcloud.home import HomeLayout

KINDS = (  # (type, size) in turn along each chain
    ("instance", "m5.large"),
    ("volume", "100GB"),
    ("database", "db.m5.large"),
    ("bucket", "0GB"),
)
LAST = "last"


def template(resources: int, chains: int) -> dict[str, Any]:
    """``resources - 1`` resources in ``chains`` chains and one that depends on every tail."""
    body: dict[str, Any] = {}
    tails = []
    for chain in range(chains):
        length = (resources - 1) // chains + (1 if chain < (resources - 1) % chains else 0)
        previous = None
        for link in range(length):
            name = f"c{chain:03}-{link}"
            kind, size = KINDS[(chain + link) % len(KINDS)]
            body[name] = {"provider": "sandbox-aws", "type": kind, "region": "eu-west-2", "size": size,
                          "tags": {"chain": str(chain), "env": "${parameters.env}"}}  # fmt: skip
            if previous:
                body[name]["depends_on"] = [previous]
            previous = name
        if previous:
            tails.append(previous)
    body[LAST] = {"provider": "sandbox-aws", "type": "instance", "region": "eu-west-2", "size": "m5.large",
                  "depends_on": tails}  # fmt: skip
    return {
        "description": f"{resources} resources in {chains} chains and one after them all",
        "parameters": {"env": {"type": "string", "default": "bench"}},
        "resources": body,
    }


class RefusingLast:
    """The sandbox, refusing to make the template's last resource (a provider refusing a step)."""

    def __init__(self, adapter: CloudProvider) -> None:
        self.adapter = adapter

    def provision(self, request: ProvisionRequest) -> Any:
        if request.name.endswith(f"-{LAST}"):
            raise UnsupportedRequest(f"the cloud refuses {request.name} (the benchmark's injected failure)")
        return self.adapter.provision(request)

    def __getattr__(self, name: str) -> Any:
        return getattr(self.adapter, name)


class Slow:
    """The sandbox answering each call that changes something after ``seconds``, as a real
    cloud's API takes a while (the sandbox answers at once, so without this the ratio measures
    only the state store's contention)."""

    CALLS = ("provision", "scale", "tag", "terminate", "snapshot")

    def __init__(self, adapter: CloudProvider, seconds: float) -> None:
        self.adapter, self.seconds = adapter, seconds

    def __getattr__(self, name: str) -> Any:
        found = getattr(self.adapter, name)
        if name not in self.CALLS:
            return found

        def slowly(*args: Any, **kwargs: Any) -> Any:
            time.sleep(self.seconds)
            return found(*args, **kwargs)

        return slowly


Adapters = Callable[[Provider, Session], CloudProvider]


def build(url: str, home: Path, latency: float = 0.0) -> tuple[sessionmaker[Session], Adapters]:
    engine = make_engine(url)
    upgrade(engine)
    save_world(engine, build_world(1, date(2026, 3, 1), date(2026, 2, 1)))
    sessions = make_sessionmaker(engine)
    with sessions() as session, session.begin():
        register_sandbox_providers(session)
    layout = HomeLayout(home)
    layout.ensure()

    def adapters(provider: Provider, session: Session) -> CloudProvider:
        adapter = adapter_for(provider, session=session, layout=layout)
        return Slow(adapter, latency) if latency else adapter  # type: ignore[return-value]

    return sessions, adapters


def validate_and_plan(sessions: sessionmaker[Session], adapters: Adapters, document: dict[str, Any]) -> float:
    start = time.perf_counter()
    with sessions() as session:
        started = service.begin_create(
            session, name=f"plan-{uuid.uuid4().hex[:8]}", template=document, parameters={}, on_failure=None,
            actor="bench", idempotency_key=None, adapter_for=adapters, plan_only=True,
        )  # fmt: skip
        session.rollback()
    elapsed = time.perf_counter() - start
    assert started.plan["summary"]["create"] == len(document["resources"]), started.plan["summary"]
    return elapsed


def apply(
    sessions: sessionmaker[Session], adapters: Adapters, document: dict[str, Any], *, parallelism: int, name: str
) -> tuple[float, Operation, uuid.UUID]:
    """Begin a deployment and run its operation to the end: (seconds, operation, deployment id)."""
    start = time.perf_counter()
    with sessions() as session, session.begin():
        started = service.begin_create(
            session, name=name, template=document, parameters={}, on_failure=None, actor="bench",
            idempotency_key=None, adapter_for=adapters,
        )  # fmt: skip
        assert started.operation is not None
        assert started.deployment is not None
        operation_id, deployment_id = started.operation.id, started.deployment.id
    work = deployment_engine.apply_work(adapters, operation_id, parallelism=parallelism)
    operations.execute(sessions, operation_id, work)
    elapsed = time.perf_counter() - start
    with sessions() as session:
        operation = session.get(Operation, operation_id)
        assert operation is not None
    return elapsed, operation, deployment_id


def steps_by_status(sessions: sessionmaker[Session], operation_id: uuid.UUID) -> dict[str, int]:
    with sessions() as session:
        statuses = list(
            session.scalars(select(DeploymentStep.status).where(DeploymentStep.operation_id == operation_id))
        )
    return {status: statuses.count(status) for status in sorted(set(statuses))}


def rollback_seconds(sessions: sessionmaker[Session], operation_id: uuid.UUID) -> float:
    """From the ``rolling back`` log line to the version's last line."""
    with sessions() as session:
        lines = list(session.scalars(select(DeploymentLog).where(DeploymentLog.operation_id == operation_id)))
    began = min(line.at for line in lines if line.message.startswith("rolling back"))
    return (max(line.at for line in lines) - began).total_seconds()


def _figures(values: list[float]) -> str:
    return f"{statistics.median(values):.2f} s  {[round(v, 2) for v in values]}"


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--resources", type=int, default=200)
    parser.add_argument("--chains", type=int, default=40)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--parallelism", type=int, default=deployment_engine.PARALLELISM)
    parser.add_argument("--database-url", default=None, help="an empty database (default: SQLite in a temp dir)")
    parser.add_argument("--cloud-latency", type=float, default=0.0, help="seconds each changing cloud call takes")
    args = parser.parse_args()
    document = template(args.resources, args.chains)
    with tempfile.TemporaryDirectory() as tmp:
        url = args.database_url or f"sqlite:///{Path(tmp) / 'state.db'}"
        sessions, adapters = build(url, Path(tmp) / "home", args.cloud_latency)
        dialect = sessions.kw["bind"].dialect.name
        print(f"{args.resources} resources ({args.chains} chains and one after them), sandbox-aws, {dialect}, "
              f"{args.cloud_latency * 1000:.0f} ms per changing cloud call; medians of {args.repeat}")  # fmt: skip
        validate_and_plan(sessions, adapters, document)  # warm: imports, catalogue caches
        planned = [validate_and_plan(sessions, adapters, document) for _ in range(max(args.repeat, 5))]
        print(f"validate and plan (target < 1 s): {_figures(planned)}")
        parallel, serial, failed, undone = [], [], [], []
        for run in range(args.repeat):
            for figures, parallelism, label in ((parallel, args.parallelism, "p"), (serial, 1, "s")):
                seconds, operation, deployment_id = apply(
                    sessions, adapters, document, parallelism=parallelism, name=f"bench-{label}{run}"
                )
                assert operation.status == "succeeded", operation.error
                assert steps_by_status(sessions, operation.id) == {"done": args.resources}
                figures.append(seconds)
            refusing: Adapters = lambda provider, session: RefusingLast(adapters(provider, session))  # noqa: E731
            seconds, operation, deployment_id = apply(
                sessions, refusing, document, parallelism=args.parallelism, name=f"bench-r{run}"
            )
            assert operation.status == "failed", operation.status
            assert steps_by_status(sessions, operation.id) == {"failed": 1, "undone": args.resources - 1}
            with sessions() as session:
                deployment = session.get(Deployment, deployment_id)
                assert deployment is not None
                assert deployment.status == "failed" or deployment.status == "rolled_back", deployment.status
            failed.append(seconds)
            undone.append(rollback_seconds(sessions, operation.id))
        sessions.kw["bind"].dispose()
    print(f"apply, parallelism {args.parallelism} (target < 30 s): {_figures(parallel)}")
    print(f"apply, serial: {_figures(serial)}")
    print(
        f"failed apply ({args.resources - 1} done, the last refused, {args.resources - 1} undone): {_figures(failed)}"
    )
    print(f"  of which the rollback (target < 30 s): {_figures(undone)}")
    ratio = statistics.median(serial) / statistics.median(parallel)
    print(f"ratio: serial / parallel apply = {ratio:.2f}x")


if __name__ == "__main__":
    main()
