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


def test_upgrading_a_used_sqlite_install_loses_no_row(tmp_path: Path) -> None:
    """SQLite alters a table by copying it: with foreign keys on, dropping the old copy of
    `posts` deleted every target, approval and figure pointing at it (ON DELETE CASCADE)."""
    import os
    import sqlite3
    import subprocess
    import sys

    from alembic import command

    env = {k: v for k, v in os.environ.items() if not k.startswith("HERALD_")}
    env["HERALD_DATA_DIR"] = str(tmp_path)
    script = (
        "draft Keep me --to outbox\napprove 1\ndraft And me --to outbox --at in 2h\napprove 2\n"
    )
    herald = str(Path(sys.executable).with_name("herald"))
    said = subprocess.run(
        [herald, "chat", "--user", "maria"],
        input=script,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert said.returncode == 0, said.stderr
    path = tmp_path / "herald.sqlite3"

    def counts() -> dict[str, int]:
        with sqlite3.connect(path) as conn:
            names = [
                r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type='table'")
            ]
            return {n: conn.execute(f'SELECT count(*) FROM "{n}"').fetchone()[0] for n in names}  # noqa: S608

    db = Database(f"sqlite:///{path}")
    command.downgrade(db.alembic_config(), "fl0001")  # the schema before this release's
    before = counts()
    assert before["targets"] == 2 and before["approvals"] == 2
    db.upgrade()
    after = counts()
    assert {n: after[n] for n in before if n != "alembic_version"} == {
        n: c for n, c in before.items() if n != "alembic_version"
    }
    with db.engine.connect() as conn:  # and the pragma is back on for Herald's connections
        assert conn.exec_driver_sql("PRAGMA foreign_keys").scalar() == 1
    db.dispose()
