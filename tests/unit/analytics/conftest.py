"""Fixtures of the analytics tests: a migrated database on each backend and a `Seeder` for it."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from core.settings import Settings
from storage.db import Database
from tests.unit.analytics.seeding import Seeder


@pytest.fixture
def db(settings: Settings) -> Iterator[Database]:
    """SQLite or PostgreSQL (truncated by `settings`), migrated to head."""
    database = Database(settings.effective_database_url)
    database.upgrade()
    yield database
    database.dispose()


@pytest.fixture
def seed(db: Database) -> Seeder:
    return Seeder(db)
