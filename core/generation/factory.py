"""Choose the generator and the free-text interpreter from settings."""

from __future__ import annotations

from core.generation.offline import OfflineGenerator
from core.ports import Generator, Interpreter
from core.settings import Settings
from storage.db import Database


def build_generator(settings: Settings, db: Database) -> Generator:
    return OfflineGenerator()


def build_interpreter(settings: Settings, db: Database) -> Interpreter | None:
    return None
