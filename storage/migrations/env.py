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
        if connection.dialect.name == "postgresql":
            # A migration waits at most 5 s for a lock instead of queueing every query behind it.
            connection.execute(text("SET lock_timeout = '5s'"))
            connection.execute(text("SET statement_timeout = '120s'"))
        context.configure(
            connection=connection,
            target_metadata=target_metadata,
            compare_type=True,
            render_as_batch=connection.dialect.name == "sqlite",
        )
        with context.begin_transaction():
            context.run_migrations()
        connection.commit()


run_migrations_online()
