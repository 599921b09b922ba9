"""What every command needs: settings, an engine on a migrated store, a console."""

from __future__ import annotations

from functools import cached_property

from rich.console import Console
from sqlalchemy import Engine

from control_api.settings import ApiSettings
from control_plane.store.db import make_engine, make_sessionmaker
from control_plane.store.migrate import upgrade

console = Console(stderr=True, highlight=False, soft_wrap=True)


class CliContext:
    def __init__(self) -> None:
        self.settings = ApiSettings()

    @cached_property
    def engine(self) -> Engine:
        if self.settings.database_url is None:
            self.settings.layout.ensure()
        engine = make_engine(self.settings.resolved_database_url)
        upgrade(engine)
        return engine

    @cached_property
    def sessions(self):  # type: ignore[no-untyped-def]
        return make_sessionmaker(self.engine)
