"""The demo deploys the wedding booking stack of docs/templates into the sandbox, once."""

from __future__ import annotations

from sqlalchemy import select

from control_plane.store.deployment_models import Deployment, DeploymentResource
from control_plane.store.models import Resource
from wedcloud.cli.context import CliContext
from wedcloud.cli.demo_stack import DEMO_DEPLOYMENT, deploy_booking_stack


def test_the_demo_deploys_the_booking_stack_once_and_reuses_it(context: CliContext) -> None:
    line = deploy_booking_stack(context, fresh_world=True)
    assert f"deployment {DEMO_DEPLOYMENT}: deployed" in line
    with context.sessions() as session:
        deployment = session.scalars(select(Deployment).where(Deployment.name == DEMO_DEPLOYMENT)).one()
        held = list(
            session.scalars(select(DeploymentResource).where(DeploymentResource.deployment_id == deployment.id))
        )
        rows = {r.name: r.state for r in session.scalars(select(Resource).where(Resource.name.like("booking-demo-%")))}
    assert sorted(h.logical_name for h in held) == ["db", "uploads", "web"]
    assert rows == {"booking-demo-db": "running", "booking-demo-web": "running", "booking-demo-uploads": "available"}
    assert "reused" in deploy_booking_stack(context, fresh_world=False)
    with context.sessions() as session:
        assert session.scalar(select(Deployment.latest_version).where(Deployment.id == deployment.id)) == 1
