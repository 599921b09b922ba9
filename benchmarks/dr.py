"""Disaster recovery: a drill of a 50-resource plan on the sandbox, and a failover from the
decision to the DNS record switched.

Builds a state store (SQLite in a temporary directory) with a small sandbox world and its
providers, provisions ``--resources`` resources directly through the sandbox adapter in
eu-west-2 (volumes, databases, instances and instance groups in turn, each tagged
``bench=dr``), syncs them into the inventory, and registers a plan protecting that tag with
eu-west-1 as its DR target and a DNS record set. One backup is taken (its time is printed).
Everything runs through the service layer as the API does: ``begin_*`` committed, then
``operations.execute`` of its work.

1. **Drill**, ``--repeat`` times: wall time from ``begin_drill`` until its operation ended
   (target < 60 s), every run checked: succeeded, passed, nothing left behind. Baseline: the
   same cloud work called directly on the adapter without the engine: restore each data store
   from its copy in eu-west-1 (or provision each group again), describe each, terminate each,
   and list the region once. drill / bare = the engine's overhead (journal, events, proof).
2. **Failover**, ``--repeat`` rounds, each with a plan of its own over the same resources (by
   id): a backup, then the failover to eu-west-1, timed from the decision (before
   ``begin_failover``) until ``route_dns`` returned with the target active.
   Every adapter call is timed, and so is every poll the engine sleeps through; WedCloud's own
   time is the wall time less both (target < 5 s). Baseline: the same restores, describes and
   ``route_dns`` straight on the adapter.

``--cloud aws`` runs the failover on moto (a ThreadedMotoServer in this process, as
``tests/conftest.py: moto_endpoint``) with the AWS adapter: volumes, RDS databases and
instances (an Auto Scaling group made again in the DR region needs a launch template there,
which a plan does not carry), a Route 53 hosted zone for the record. The drill stays on the
sandbox.

    uv run python benchmarks/dr.py [--resources 50] [--repeat 3] [--cloud sandbox|aws]
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
import uuid
from dataclasses import dataclass, field
from datetime import date
from functools import partial
from pathlib import Path
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from clouds.base import CloudProvider, ProvisionRequest, ResourceType
from control_plane.disaster_recovery import plans, recover, service
from control_plane.disaster_recovery.failover import records_of
from control_plane.disaster_recovery.runs import Run
from control_plane.disaster_recovery.spec import PlanSpec
from control_plane.services import inventory, operations
from control_plane.services.providers import adapter_for
from control_plane.services.sandbox import register_sandbox_providers
from control_plane.store.db import make_engine, make_sessionmaker
from control_plane.store.migrate import upgrade
from control_plane.store.models import Operation, Provider, Resource
from control_plane.store.recovery_models import RecoveryPlan, RecoveryRun
from wedcloud.home import HomeLayout

PRIMARY, STANDBY = "eu-west-2", "eu-west-1"
TAG = {"bench": "dr"}
RECORD = "api.wedsync.example."
TARGETS = {PRIMARY: "192.0.2.10", STANDBY: "198.51.100.10"}  # documentation ranges (RFC 5737)
Kinds = tuple[tuple[str, ResourceType, str, dict[str, Any]], ...]
SANDBOX_KINDS: Kinds = (  # (subtype, resource type, size, options), in turn
    ("volume", ResourceType.STORAGE, "50GB", {}),
    ("database", ResourceType.DATABASE, "db.m5.large", {"storage_gb": 20}),
    ("instance", ResourceType.COMPUTE, "m5.large", {"storage_gb": 30}),
    ("instance_group", ResourceType.COMPUTE, "m5.large", {"min": 1, "max": 4}),
)


class Timed:
    """The adapter, with the time spent in each of its calls recorded (the cloud's time), and
    the moment ``route_dns`` returned for each region made active."""

    def __init__(self, adapter: CloudProvider, clock: Clock) -> None:
        self.adapter, self.clock = adapter, clock

    def __getattr__(self, name: str) -> Any:
        found = getattr(self.adapter, name)
        if not callable(found):
            return found

        def timed(*args: Any, **kwargs: Any) -> Any:
            start = time.perf_counter()
            try:
                return found(*args, **kwargs)
            finally:
                end = time.perf_counter()
                self.clock.calls.append((start, end))
                if name == "route_dns":
                    self.clock.switched[kwargs["active"]] = end

        return timed


@dataclass
class Clock:
    calls: list[tuple[float, float]] = field(default_factory=list)  # (start, end) of each cloud call
    sleeps: list[tuple[float, float]] = field(default_factory=list)  # the engine's polls
    switched: dict[str, float] = field(default_factory=dict)  # region -> when route_dns returned

    def sleep(self, seconds: float) -> None:
        start = time.perf_counter()
        time.sleep(seconds)
        self.sleeps.append((start, time.perf_counter()))

    def spent(self, begin: float, end: float) -> tuple[float, float]:
        """(seconds in cloud calls, seconds asleep) within [begin, end]."""
        inside = [(b, e) for b, e in self.calls if b >= begin and e <= end]
        asleep = [(b, e) for b, e in self.sleeps if b >= begin and e <= end]
        return sum(e - b for b, e in inside), sum(e - b for b, e in asleep)

    def reset(self) -> None:
        self.calls.clear()
        self.sleeps.clear()
        self.switched.clear()


@dataclass
class Bench:
    sessions: sessionmaker[Session]
    provider_id: uuid.UUID
    clock: Clock
    bare: CloudProvider  # the adapter without the timing, for the baselines
    zone: str
    adapters: Any = None

    def provider(self, session: Session) -> Provider:
        found = session.get(Provider, self.provider_id)
        assert found is not None
        return found

    def run(self, begin: Any, **kwargs: Any) -> tuple[float, RecoveryRun]:
        start = time.perf_counter()
        with self.sessions() as session, session.begin():
            started = begin(session, actor="bench", idempotency_key=None, adapter_for=self.adapters, **kwargs)
            operation_id, run_id, work = started.operation.id, started.run.id, started.work
        operations.execute(self.sessions, operation_id, work)
        elapsed = time.perf_counter() - start
        with self.sessions() as session:
            operation, run = session.get(Operation, operation_id), session.get(RecoveryRun, run_id)
            assert operation is not None
            assert run is not None
            assert operation.status == "succeeded", operation.error
            assert run.status == "succeeded" or run.kind == "drill", (run.kind, run.status, run.report.get("summary"),
                                                                      run.error)  # fmt: skip
        return elapsed, run


def time_polls(clock: Clock) -> None:
    """Make the engine's runs sleep through ``clock`` (timed) between polls: ``service.run_work``
    builds each run's :class:`Run`."""
    service.Run = partial(Run, sleep=clock.sleep)  # type: ignore[attr-defined,assignment]


def _store(tmp: Path) -> sessionmaker[Session]:
    tmp.mkdir(parents=True, exist_ok=True)
    engine = make_engine(f"sqlite:///{tmp / 'state.db'}")
    upgrade(engine)
    return make_sessionmaker(engine)


def sandbox_bench(tmp: Path, resources: int) -> Bench:
    from clouds.sandbox.world import build_world, save_world

    sessions = _store(tmp)
    save_world(sessions.kw["bind"], build_world(1, date(2026, 3, 1), date(2026, 2, 1)))
    with sessions() as session, session.begin():
        register_sandbox_providers(session)
        provider_id = session.scalars(select(Provider.id).where(Provider.name == "sandbox-aws")).one()
    layout = HomeLayout(tmp / "home")
    layout.ensure()
    clock = Clock()

    def adapters(provider: Provider, session: Session) -> CloudProvider:
        return Timed(adapter_for(provider, session=session, layout=layout), clock)  # type: ignore[return-value]

    with sessions() as session:
        bare = adapter_for(session.get(Provider, provider_id), session=session, layout=layout)  # type: ignore[arg-type]
    for index in range(resources):
        subtype, kind, size, options = SANDBOX_KINDS[index % len(SANDBOX_KINDS)]
        bare.provision(ProvisionRequest(name=f"bench-{subtype.replace('_', '-')}-{index:03}", resource_type=kind,
                                        region=PRIMARY, size=size, tags=TAG,
                                        options={"subtype": subtype, **options}))  # fmt: skip
    bench = Bench(sessions, provider_id, clock, bare, zone="wedsync-bench", adapters=adapters)
    _sync(bench)
    return bench


def _sync(bench: Bench) -> None:
    with bench.sessions() as session, session.begin():
        listed = list(bench.bare.list_resources(region=PRIMARY))
        inventory.sync(session, bench.provider(session), listed, prices=inventory.catalogue_prices(bench.bare))


def make_plan(bench: Bench, name: str, protected: dict[str, Any]) -> uuid.UUID:
    spec = PlanSpec.model_validate({
        "name": name, "primary_provider_id": str(bench.provider_id), "primary_region": PRIMARY,
        "dr_targets": [{"region": STANDBY}], "protected": protected, "rto_seconds": 3600, "rpo_seconds": 4 * 3600,
        "routing": {"zone": bench.zone, "name": RECORD, "type": "A", "ttl": 60, "targets": TARGETS},
    })  # fmt: skip
    with bench.sessions() as session, session.begin():
        return plans.create_plan(session, spec=spec, actor="bench", adapter_for=bench.adapters).id


def originals(bench: Bench) -> list[str]:
    """The ids of the resources the benchmark provisioned (the copies failovers make carry the
    same tags, so later plans name these by id)."""
    with bench.sessions() as session:
        rows = session.scalars(select(Resource).where(Resource.provider_id == bench.provider_id,
                                                      Resource.region == PRIMARY))  # fmt: skip
        return [str(r.id) for r in rows if r.tags.get("bench") == TAG["bench"] and r.state != "terminated"]


def _sources(bench: Bench, plan_id: uuid.UUID, region: str) -> list[recover.Source]:
    with bench.sessions() as session:
        plan = session.get(RecoveryPlan, plan_id)
        assert plan is not None
        sources, problems = recover.readiness(session, plan, bench.provider_id, region, within_rpo=False)
    assert not problems, problems
    return sources


def _bare_restore(bench: Bench, sources: list[recover.Source], region: str, label: str) -> list[str]:
    """Restore (or provision again) every source in ``region`` and describe each: the cloud's
    part of a recovery, without the engine."""
    made = []
    for source in sources:
        name, tags = f"{label}-{source.name}"[:63], {**TAG, "bench-bare": label}
        if source.snapshot_id:
            made.append(bench.bare.restore(source.snapshot_id, region=region, name=name, tags=tags).id)
        else:
            options: dict[str, Any] = {"subtype": source.subtype, "client_token": f"{label}-{source.cloud_id}"[-64:],
                       **{k: source.details[k] for k in ("min", "max") if k in source.details}}  # fmt: skip
            request = ProvisionRequest(name=name, resource_type=ResourceType.COMPUTE, region=region,
                                       size=source.size or "", tags=tags, options=options)  # fmt: skip
            made.append(bench.bare.provision(request).id)
    for cloud_id in made:
        bench.bare.describe(cloud_id)
    return made


def bare_drill(bench: Bench, sources: list[recover.Source], label: str) -> float:
    start = time.perf_counter()
    made = _bare_restore(bench, sources, STANDBY, label)
    for cloud_id in made:
        bench.bare.terminate(cloud_id)
    list(bench.bare.list_resources(region=STANDBY))
    list(bench.bare.list_snapshots(region=STANDBY, tags={"bench-bare": label}))
    return time.perf_counter() - start


def measure_drills(bench: Bench, plan_id: uuid.UUID, repeat: int) -> tuple[list[float], list[float], RecoveryRun]:
    drills, bare, last = [], [], None
    sources = _sources(bench, plan_id, STANDBY)
    for index in range(repeat):
        seconds, last = bench.run(service.begin_drill, plan_id=plan_id, region=None)
        assert last.status == "succeeded", last.error
        assert last.passed, last.report.get("summary")
        assert last.report["cleanup"]["remaining"] == [], last.report["cleanup"]
        drills.append(seconds)
        bare.append(bare_drill(bench, sources, f"bare{index}"))
    assert last is not None
    return drills, bare, last


@dataclass
class Failover:
    wall: float  # decision to DNS switched
    cloud: float  # of which in adapter calls
    asleep: float  # of which in the engine's polls
    run: RecoveryRun

    @property
    def own(self) -> float:
        return self.wall - self.cloud - self.asleep


def failover(bench: Bench, plan_id: uuid.UUID, region: str) -> Failover:
    bench.clock.reset()
    decision = time.perf_counter()
    _, run = bench.run(service.begin_failover, plan_id=plan_id, region=region, reason="benchmark", dry_run=False)
    assert run.status == "succeeded", (run.status, run.report.get("summary"))
    switched = bench.clock.switched[region]
    cloud, asleep = bench.clock.spent(decision, switched)
    return Failover(switched - decision, cloud, asleep, run)


def bare_failover(bench: Bench, plan_id: uuid.UUID, label: str) -> float:
    """Restores, describes and the DNS switch to the standby on the adapter alone; then DNS back."""
    sources = _sources(bench, plan_id, STANDBY)
    with bench.sessions() as session:
        plan = session.get(RecoveryPlan, plan_id)
        assert plan is not None
        records = records_of(plan)
    assert records is not None
    start = time.perf_counter()
    made = _bare_restore(bench, sources, STANDBY, label)
    bench.bare.route_dns(records, active=STANDBY)
    seconds = time.perf_counter() - start
    bench.bare.route_dns(records, active=PRIMARY)
    for cloud_id in made:
        bench.bare.terminate(cloud_id)
    return seconds


def measure_failovers(bench: Bench, repeat: int) -> tuple[list[Failover], list[float]]:
    """Each round: a plan of its own over the same resources (by id), a backup, the bare
    baseline, the failover; then the record is pointed back at the primary for the next round.
    A failback is the same path in the other direction, so it is not timed apart."""
    results, bare = [], []
    ids = originals(bench)
    for index in range(repeat):
        plan_id = make_plan(bench, f"fo{index}", {"resource_ids": ids})
        bench.run(service.begin_backup, plan_id=plan_id)
        if index == 0:  # warm: the SDK's clients for the DR region, the DNS zone's first record
            bare_failover(bench, plan_id, "bare-warm")
        bare.append(bare_failover(bench, plan_id, f"bare-failover{index}"))
        result = failover(bench, plan_id, STANDBY)
        results.append(result)
        with bench.sessions() as session:
            plan = session.get(RecoveryPlan, plan_id)
            assert plan is not None
            records = records_of(plan)
        assert records is not None
        bench.bare.route_dns(records, active=PRIMARY)
    return results, bare


def _figures(values: list[float]) -> str:
    return f"{statistics.median(values):.2f} s  {[round(v, 2) for v in values]}"


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--resources", type=int, default=50)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--cloud", choices=("sandbox", "aws"), default="sandbox", help="where the failover runs")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        bench = sandbox_bench(Path(tmp) / "sandbox", args.resources)
        time_polls(bench.clock)
        plan_id = make_plan(bench, "drill", {"tags": TAG})
        backup_seconds, backup = bench.run(service.begin_backup, plan_id=plan_id)
        stateful = len(backup.report["backups"])
        print(f"{args.resources} resources on sandbox-aws {PRIMARY} ({stateful} restored from backups, "
              f"{args.resources - stateful} made again), DR target {STANDBY}, SQLite; "
              f"medians of {args.repeat}")  # fmt: skip
        print(f"backup ({stateful} snapshots copied to {STANDBY}): {backup_seconds:.2f} s")
        drills, bare, last = measure_drills(bench, plan_id, args.repeat)
        print(f"drill of {len(last.report['restored'])} resources (target < 60 s): {_figures(drills)}; "
              f"measured RTO {last.rto_seconds} s, RPO {last.rpo_seconds} s")  # fmt: skip
        print(f"same restores and terminations on the adapter alone: {_figures(bare)}")
        if args.cloud == "aws":
            from benchmarks.dr_moto import moto_bench

            with moto_bench(Path(tmp) / "aws", args.resources) as aws:
                time_polls(aws.clock)
                results, bare_failovers = measure_failovers(aws, args.repeat)
        else:
            results, bare_failovers = measure_failovers(bench, args.repeat)
        sessions = bench.sessions
    sessions.kw["bind"].dispose()
    where = "moto (AWS adapter)" if args.cloud == "aws" else "the sandbox"
    print(f"failover of {args.resources} resources on {where}, decision to DNS switched ({len(results)} runs):")
    print(f"  wall: {_figures([r.wall for r in results])}")
    print(f"  in cloud calls: {_figures([r.cloud for r in results])}; in the engine's polls: "
          f"{_figures([r.asleep for r in results])}")  # fmt: skip
    print(f"  WedCloud's own time (target < 5 s): {_figures([r.own for r in results])}")
    print(f"  recovery time reported (with the cloud's modelled waits): "
          f"{_figures([r.run.rto_seconds or 0.0 for r in results])}")  # fmt: skip
    print(f"same restores and DNS switch on the adapter alone: {_figures(bare_failovers)}")
    print(f"ratio: drill / bare = {statistics.median(drills) / statistics.median(bare):.2f}x; "
          f"failover to DNS / bare = "
          f"{statistics.median([r.wall for r in results]) / statistics.median(bare_failovers):.2f}x")  # fmt: skip


if __name__ == "__main__":
    main()
