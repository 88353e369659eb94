"""The models and the migrations describe the same schema, on SQLite and PostgreSQL."""

from __future__ import annotations

from pathlib import Path

from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext

from storage.db import Database
from storage.schema import metadata


def _diff(db: Database) -> list[object]:
    with db.engine.connect() as conn:
        context = MigrationContext.configure(conn, opts={"compare_type": True})
        return list(compare_metadata(context, metadata))


def test_sqlite_models_match_migrations(tmp_path: Path) -> None:
    db = Database(f"sqlite:///{tmp_path / 'h.sqlite3'}")
    assert db.current_revision() is None
    db.upgrade()
    assert db.current_revision() == db.head_revision()
    assert _diff(db) == []
    db.check_schema()  # does not raise
    db.dispose()


def test_postgres_models_match_migrations(pg_url: str) -> None:
    db = Database(pg_url)
    assert db.current_revision() == db.head_revision()
    assert _diff(db) == []
    db.dispose()


def test_migration_files_are_date_prefixed() -> None:
    versions = Path(__file__).parents[2] / "storage" / "migrations" / "versions"
    names = sorted(p.name for p in versions.glob("*.py"))
    assert names
    assert all(n[:8].isdigit() and n[8] == "_" for n in names)
