"""The composition root: builds every part from Settings. Nothing else wires parts together."""

from __future__ import annotations

from functools import cached_property

from sqlalchemy import Engine

from aupgate.config import Settings
from aupgate.store.db import migrate, open_engine


class Runtime:
    """Lazily built parts of one aupgate deployment (a CLI call, a server process, a test)."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings

    @cached_property
    def engine(self) -> Engine:
        """The store, migrated to the current schema."""
        engine = open_engine(self.settings.database)
        migrate(engine)
        return engine

    def close(self) -> None:
        """Release what was opened (safe to call when nothing was)."""
        if "engine" in self.__dict__:
            self.engine.dispose()
