"""One reconciling round with the deployment's own adapters (the API runs it on a timer,
``wedcloud reconcile`` once)."""

from __future__ import annotations

from sqlalchemy.orm import Session, sessionmaker

from clouds.base import CloudProvider
from control_api.crypto import load_cipher
from control_api.services.providers import adapter_for
from control_api.services.resources import Reconciled, reconcile
from control_api.settings import ApiSettings
from control_api.store.models import Provider


def reconcile_once(settings: ApiSettings, sessions: sessionmaker[Session]) -> Reconciled:
    cipher = load_cipher(settings.layout.root, environment=settings.environment)

    def adapters(provider: Provider, session: Session) -> CloudProvider:
        return adapter_for(provider, session=session, layout=settings.layout, cipher=cipher)

    return reconcile(sessions, adapters)
