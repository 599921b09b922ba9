"""Tests of deployments. The helpers below set up what the template, checks and estimate tests
render against: a real sandbox world in the state store with its three providers registered
(``sandbox-aws``, ``sandbox-azure``, ``sandbox-gcp``), and the real adapters."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from pathlib import Path
from typing import Any

from sqlalchemy import Engine, select
from sqlalchemy.orm import Session, sessionmaker

from clouds.base import CloudProvider
from clouds.sandbox.world import build_world, save_world
from control_plane.deployments import template
from control_plane.deployments.spec import Rendered
from control_plane.services.providers import adapter_for
from control_plane.services.sandbox import register_sandbox_providers
from control_plane.store.db import make_sessionmaker
from control_plane.store.models import Provider
from wedcloud.home import HomeLayout

TEMPLATES = Path(__file__).resolve().parents[3] / "docs" / "templates"


@dataclass(frozen=True)
class SandboxWorld:
    sessions: sessionmaker[Session]
    layout: HomeLayout

    def adapters(self, provider: Provider, session: Session) -> CloudProvider:
        """The real adapter of ``provider`` (the AdapterFor the services take)."""
        return adapter_for(provider, session=session, layout=self.layout)

    def provider(self, session: Session, name: str) -> Provider:
        return session.scalars(select(Provider).where(Provider.name == name)).one()


def sandbox_world(engine: Engine, root: Path) -> SandboxWorld:
    """A small sandbox world (one month of history) and its three providers."""
    layout = HomeLayout(root / "home")
    layout.ensure()
    save_world(engine, build_world(4, date(2026, 12, 6), date(2026, 11, 1)))
    sessions = make_sessionmaker(engine)
    with sessions() as session, session.begin():
        register_sandbox_providers(session)
    return SandboxWorld(sessions, layout)


def shipped(name: str) -> dict[str, Any]:
    """A template of docs/templates, loaded as the API loads a request's text."""
    document, problems = template.load_document((TEMPLATES / name).read_text())
    assert problems == []
    assert document is not None
    return document


def rendered_ok(world: SandboxWorld, document: dict[str, Any], parameters: dict[str, Any] | None = None) -> Rendered:
    """``document`` rendered in ``world``, which must find no problem in it."""
    with world.sessions() as session:
        found, problems = template.render(session, document=document, parameters=parameters or {})
    assert problems == []
    assert found is not None
    return found
