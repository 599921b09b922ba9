"""The demo's deployment: the wedding booking stack of docs/templates, applied to the sandbox so
that a newcomer finds it in ``GET /api/cloud/deployments`` (and its resources in the monitor)."""

from __future__ import annotations

from pathlib import Path

from sqlalchemy import select
from sqlalchemy.orm import Session

from clouds.base import CloudProvider
from control_plane.crypto import load_cipher
from control_plane.deployments import service
from control_plane.services import operations, providers
from control_plane.services.resources import AdapterFor
from control_plane.store.db import transaction
from control_plane.store.deployment_models import Deployment
from control_plane.store.models import Provider
from wedcloud.cli.context import CliContext

BOOKING_TEMPLATE = Path(__file__).resolve().parents[2] / "docs" / "templates" / "booking-stack.yaml"
DEMO_DEPLOYMENT = "booking-demo"


def demo_adapters(context: CliContext) -> AdapterFor:
    """The adapters the demo's own calls use, as the API would build them."""
    layout, environment = context.settings.layout, context.settings.environment
    cipher = load_cipher(layout.root, environment=environment)

    def adapters(provider: Provider, session: Session) -> CloudProvider:
        return providers.adapter_for(provider, session=session, layout=layout, cipher=cipher)

    return adapters


def deploy_booking_stack(context: CliContext, *, fresh_world: bool) -> str:
    """Apply the booking stack unless it is deployed already (a new sandbox world gets a new
    one: the old deployment's resources went with the old world). Returns a line to print."""
    with transaction(context.sessions) as session:
        existing = session.scalar(select(Deployment).where(Deployment.name == DEMO_DEPLOYMENT))
        if existing is not None and fresh_world:
            session.delete(existing)  # its versions, steps, logs and resources go with it (ON DELETE CASCADE)
        elif existing is not None:
            return f"deployment {DEMO_DEPLOYMENT}: {existing.status} (version {existing.current_version}), reused"
    adapters = demo_adapters(context)
    with transaction(context.sessions) as session:
        started = service.begin_create(
            session, name=DEMO_DEPLOYMENT, template=BOOKING_TEMPLATE.read_text(), parameters={}, on_failure=None,
            actor="wedcloud demo", idempotency_key=None, adapter_for=adapters,
        )  # fmt: skip
        assert started.operation is not None
        assert started.work is not None
        operation_id, work = started.operation.id, started.work
    operations.execute(context.sessions, operation_id, work)
    with context.sessions() as session:
        deployment = session.scalar(select(Deployment).where(Deployment.name == DEMO_DEPLOYMENT))
        assert deployment is not None
        return (
            f"deployment {DEMO_DEPLOYMENT}: {deployment.status} from {BOOKING_TEMPLATE.name} "
            f"(GET /api/cloud/deployments/{deployment.id})"
        )
