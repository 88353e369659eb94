"""Alembic environment: runs on Herald's own engine, with lock and statement timeouts."""

from __future__ import annotations

from alembic import context
from sqlalchemy import Engine, text

from storage.schema import metadata

config = context.config
target_metadata = metadata


def run_migrations_online() -> None:
    engine = config.attributes.get("engine")
    assert isinstance(engine, Engine), "migrations run through storage.db.Database"
    with engine.connect() as connection:
        raw = (
            connection.connection.dbapi_connection if connection.dialect.name == "sqlite" else None
        )
        if raw is not None:
            # SQLite alters a table by copying it and dropping the old one, and with foreign
            # keys on, that DROP deletes every row that points at it (ON DELETE CASCADE): a
            # post's table rebuilt would take its targets, approvals and figures with it. The
            # pragma only changes outside a transaction, so it is set on the raw connection
            # before the migration's transaction begins, and checked and restored after.
            raw.execute("PRAGMA foreign_keys=OFF")
        if connection.dialect.name == "postgresql":
            # A migration waits at most 5 s for a lock instead of queueing every query behind it.
            connection.execute(text("SET lock_timeout = '5s'"))
            connection.execute(text("SET statement_timeout = '120s'"))
        context.configure(
            connection=connection,
            target_metadata=target_metadata,
            compare_type=True,
            render_as_batch=raw is not None,
        )
        try:
            with context.begin_transaction():
                context.run_migrations()
            connection.commit()
        finally:
            if raw is not None:
                broken = raw.execute("PRAGMA foreign_key_check").fetchall()
                raw.execute("PRAGMA foreign_keys=ON")
                if broken:
                    raise RuntimeError(f"the migration left rows without their parent: {broken}")


run_migrations_online()
