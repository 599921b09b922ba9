"""One reconciling round with the deployment's own adapters (the API runs it on a timer,
``wedcloud reconcile`` once)."""

from __future__ import annotations

from sqlalchemy.orm import Session, sessionmaker

from clouds.base import CloudProvider
from control_plane.crypto import load_cipher
from control_plane.services.providers import adapter_for
from control_plane.services.resources import Reconciled, reconcile
from control_plane.store.models import Provider
from wedcloud.home import HomeLayout


def reconcile_once(layout: HomeLayout, environment: str, sessions: sessionmaker[Session]) -> Reconciled:
    """A round for the deployment whose home is ``layout`` (its credentials key is read there,
    or from the environment as ``environment`` requires)."""
    cipher = load_cipher(layout.root, environment=environment)

    def adapters(provider: Provider, session: Session) -> CloudProvider:
        return adapter_for(provider, session=session, layout=layout, cipher=cipher)

    return reconcile(sessions, adapters)
