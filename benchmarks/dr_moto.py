"""The failover part of ``benchmarks/dr.py`` on moto: a moto server in this process (as
``tests/conftest.py: moto_endpoint`` starts it), an AWS provider pointing at it, volumes, RDS
databases and EC2 instances tagged ``bench=dr`` in eu-west-2, and a Route 53 hosted zone for
the plan's record. Not a benchmark on its own."""

from __future__ import annotations

import logging
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import boto3
from sqlalchemy.orm import Session

from benchmarks.dr import PRIMARY, RECORD, STANDBY, TAG, Bench, Clock, Kinds, Timed, _store, _sync
from clouds.base import CloudProvider, ProvisionRequest, ResourceType
from control_plane.store.models import Provider

KEYS = {"access_key_id": "AKIAIOSFODNN7EXAMPLE", "secret_access_key": "testing-secret-not-real"}
AMI = "ami-12c6146b"  # one of the images moto ships
# (subtype, resource type, size, options) in turn. No Auto Scaling group: made again in the DR
# region it needs a launch template there, which the plan does not carry.
AWS_KINDS: Kinds = (
    ("volume", ResourceType.STORAGE, "20GB", {}),
    ("database", ResourceType.DATABASE, "db.t3.micro", {"engine": "postgres", "storage_gb": 20}),
    ("instance", ResourceType.COMPUTE, "t3.micro", {}),
)


def _aws(endpoint: str) -> CloudProvider:
    from clouds.aws.provider import AwsCloud

    return AwsCloud(KEYS, regions=[PRIMARY, STANDBY], default_region=PRIMARY, endpoint_url=endpoint)  # type: ignore[return-value]


def _hosted_zone(endpoint: str) -> str:
    route53 = boto3.client("route53", endpoint_url=endpoint, region_name="us-east-1",
                           aws_access_key_id=KEYS["access_key_id"],
                           aws_secret_access_key=KEYS["secret_access_key"])  # fmt: skip
    zone = route53.create_hosted_zone(Name=RECORD.split(".", 1)[1], CallerReference=uuid.uuid4().hex)
    return str(zone["HostedZone"]["Id"]).rsplit("/", 1)[-1]


@contextmanager
def moto_bench(tmp: Path, resources: int) -> Iterator[Bench]:
    from moto.server import ThreadedMotoServer

    logging.getLogger("werkzeug").setLevel(logging.ERROR)  # moto's server logs every request
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    try:
        host, port = server.get_host_and_port()
        endpoint = f"http://{host}:{port}"
        sessions = _store(tmp)
        provider_id = uuid.uuid4()
        with sessions() as session, session.begin():
            session.add(Provider(id=provider_id, kind="aws", name="moto-aws", default_region=PRIMARY,
                                 regions=[PRIMARY, STANDBY], tags={}, settings={"endpoint_url": endpoint}))  # fmt: skip
        clock = Clock()

        def adapters(provider: Provider, session: Session) -> CloudProvider:
            return Timed(_aws(endpoint), clock)  # type: ignore[return-value]

        bare = _aws(endpoint)
        for index in range(resources):
            subtype, kind, size, options = AWS_KINDS[index % len(AWS_KINDS)]
            bare.provision(ProvisionRequest(
                name=f"bench-{subtype}-{index:03}", resource_type=kind, region=PRIMARY, size=size,
                image=AMI if subtype == "instance" else None, tags=TAG, options={"subtype": subtype, **options},
            ))  # fmt: skip
        bench = Bench(sessions, provider_id, clock, bare, zone=_hosted_zone(endpoint), adapters=adapters)
        _sync(bench)
        yield bench
        sessions.kw["bind"].dispose()
    finally:
        server.stop()
