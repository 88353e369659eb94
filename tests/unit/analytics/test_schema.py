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
from sqlalchemy import func, inspect, select, text
from sqlalchemy.exc import IntegrityError

from storage.db import Database
from storage.models_analytics import DigestSent, LatestFigures, Milestone, SnapshotDue
from tests.unit.analytics.seeding import Seeder

TABLES = {
    "metrics_snapshots",
    "snapshot_schedule",
    "latest_figures",
    "digest_settings",
    "digests_sent",
}
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


def test_the_migration_upgrades_and_downgrades(empty_db: Database) -> None:
    empty_db.upgrade()
    assert _tables(empty_db) >= TABLES

    command.downgrade(empty_db.alembic_config(), "0005")
    assert empty_db.current_revision() == "0005"
    assert not TABLES & _tables(empty_db)

    empty_db.upgrade()
    assert empty_db.current_revision() == empty_db.head_revision()
    assert _tables(empty_db) >= TABLES


def test_posts_published_before_the_upgrade_get_their_row_of_figures(empty_db: Database) -> None:
    config = empty_db.alembic_config()
    command.upgrade(config, "0005")
    when = datetime(2026, 11, 20, 9, tzinfo=UTC)
    with empty_db.engine.begin() as conn:
        conn.execute(
            text(
                "INSERT INTO workspaces (id, kind, external_id, name, timezone, post_seq,"
                " self_approval, approvals_required, default_networks, settings, created_at)"
                " VALUES (1, 'terminal', 'w', 'w', 'UTC', 2, false, 1, 'x', '{}', :t)"
            ),
            {"t": when},
        )
        conn.execute(
            text(
                "INSERT INTO members (id, workspace_id, external_id, display_name, role,"
                " created_at) VALUES (1, 1, 'm', 'm', 'owner', :t)"
            ),
            {"t": when},
        )
        for number, state in ((1, "published"), (2, "scheduled")):
            conn.execute(
                text(
                    "INSERT INTO posts (id, workspace_id, number, author_id, brief, state,"
                    " revision, media, conversation, generator, created_at, updated_at)"
                    " VALUES (:n, 1, :n, 1, 'b', 'approved', 1, '[]', '', '', :t, :t)"
                ),
                {"n": number, "t": when},
            )
            conn.execute(
                text(
                    "INSERT INTO targets (id, post_id, network, text, parts, media, warnings,"
                    " state, state_changed_at, attempts, published_at)"
                    " VALUES (:n, :n, 'x', 't', '[]', '[]', '{}', :s, :t, 0, :p)"
                ),
                {"n": number, "s": state, "t": when, "p": when if state == "published" else None},
            )
    empty_db.upgrade()
    with empty_db.session() as s:
        (row,) = s.scalars(select(LatestFigures)).all()
    assert (row.target_id, row.post_number, row.published_at, row.taken_at) == (1, 1, when, None)


def test_a_milestone_is_scheduled_once_per_target(db: Database, seed: Seeder) -> None:
    ids = seed.post(seed.workspace(), datetime(2026, 11, 30, tzinfo=UTC), ("x", None))
    when = datetime(2026, 11, 30, 1, tzinfo=UTC)
    with db.session() as s:  # publication planned it
        assert s.scalar(select(func.count()).select_from(SnapshotDue)) == 3
    row = {"target_id": ids["x"], "milestone": Milestone.HOUR, "due_at": when, "next_try_at": when}
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
