"""The analytics tables: the migration goes up and down on SQLite and PostgreSQL, and the
unique keys that make collection and the digest happen once hold on both."""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import psycopg
import pytest
from alembic import command
from sqlalchemy import inspect
from sqlalchemy.exc import IntegrityError

from storage.db import Database
from storage.models_analytics import DigestSent, Milestone, SnapshotDue
from tests.unit.analytics.seeding import Seeder

TABLES = {"metrics_snapshots", "snapshot_schedule", "digest_settings", "digests_sent"}
PG_ADMIN_URL = os.environ.get("HERALD_TEST_PG", "postgresql://127.0.0.1:5432/test")


@pytest.fixture(params=["sqlite", "postgres"])
def empty_db(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Database]:
    """A database of its own with no schema at all (the shared test database stays at head)."""
    if request.param == "sqlite":
        db = Database(f"sqlite:///{tmp_path / 'h.sqlite3'}")
        yield db
        db.dispose()
        return
    name = f"herald_mig_{uuid.uuid4().hex[:10]}"
    with psycopg.connect(PG_ADMIN_URL, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    base = PG_ADMIN_URL.rsplit("/", 1)[0].replace("postgresql://", "postgresql+psycopg://")
    db = Database(f"{base}/{name}")
    yield db
    db.dispose()
    with psycopg.connect(PG_ADMIN_URL, autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def _tables(db: Database) -> set[str]:
    with db.engine.connect() as conn:
        return set(inspect(conn).get_table_names())


def _target_indexes(db: Database) -> set[str]:
    with db.engine.connect() as conn:
        return {ix["name"] or "" for ix in inspect(conn).get_indexes("targets")}


def test_the_migration_upgrades_and_downgrades(empty_db: Database) -> None:
    empty_db.upgrade()
    assert _tables(empty_db) >= TABLES
    assert "ix_targets_published_at" in _target_indexes(empty_db)

    command.downgrade(empty_db.alembic_config(), "0005")
    assert empty_db.current_revision() == "0005"
    assert not TABLES & _tables(empty_db)
    assert "ix_targets_published_at" not in _target_indexes(empty_db)

    empty_db.upgrade()
    assert empty_db.current_revision() == empty_db.head_revision()
    assert _tables(empty_db) >= TABLES


def test_a_milestone_is_scheduled_once_per_target(db: Database, seed: Seeder) -> None:
    ids = seed.post(seed.workspace(), datetime(2026, 11, 30, tzinfo=UTC), ("x", None))
    when = datetime(2026, 11, 30, 1, tzinfo=UTC)
    row = {"target_id": ids["x"], "milestone": Milestone.HOUR, "due_at": when, "next_try_at": when}
    with db.session() as s:
        s.add(SnapshotDue(**row))
    with pytest.raises(IntegrityError), db.session() as s:
        s.add(SnapshotDue(**row))


def test_a_digest_period_is_recorded_once_per_workspace(db: Database, seed: Seeder) -> None:
    ws = seed.workspace()
    week = datetime(2026, 11, 29, 23, 0, tzinfo=UTC)  # Monday 00:00 in Berlin
    with db.session() as s:
        s.add(DigestSent(workspace_id=ws, period_start=week))
    with pytest.raises(IntegrityError), db.session() as s:
        s.add(DigestSent(workspace_id=ws, period_start=week))
    with db.session() as s:  # another workspace's digest for the same week is its own
        s.add(DigestSent(workspace_id=seed.workspace("other"), period_start=week))
