"""The services the tests run on: PostgreSQL and Redis addresses, this session's queue, and
how a test gets a clean database, clean queues and a free port."""

from __future__ import annotations

import os
import socket
import uuid

import psycopg
import pytest
import redis
from sqlalchemy import text

from core.jobs import Lane as QUEUE_KINDS
from storage.db import Database
from storage.schema import metadata

PG_ADMIN_URL = os.environ.get("HERALD_TEST_PG", "postgresql://127.0.0.1:5432/test")
REDIS_URL = os.environ.get("HERALD_TEST_REDIS", "redis://127.0.0.1:6379/11")
# One queue per test session: parallel runs on one Redis never take each other's jobs.
QUEUE = f"herald-test-{uuid.uuid4().hex[:8]}"
BACKENDS = ["sqlite", "postgres"]


def require_services() -> None:
    """End the run (never skip) when PostgreSQL or Redis is not there, saying how to start it."""
    problems = []
    try:
        psycopg.connect(PG_ADMIN_URL, connect_timeout=3).close()
    except psycopg.Error as exc:
        problems.append(
            f"PostgreSQL is not reachable at {PG_ADMIN_URL} ({exc}). Start it: "
            "pg_ctlcluster --skip-systemctl-redirect $(ls /etc/postgresql) main start"
        )
    try:
        redis.Redis.from_url(REDIS_URL, socket_connect_timeout=3).ping()
    except redis.RedisError as exc:
        problems.append(f"Redis is not reachable at {REDIS_URL} ({exc}). Start redis-server.")
    if problems:
        pytest.exit("\n".join(problems), returncode=3)


def purge_queues(url: str, queue: str) -> None:
    """Drop the jobs a previous test left in this queue prefix's queues."""
    redis.Redis.from_url(url).delete(queue, *(f"{queue}.{kind}" for kind in QUEUE_KINDS))


def truncate(url: str) -> None:
    """Empty every table of the database at `url` (a PostgreSQL test starts from nothing)."""
    db = Database(url)
    tables = ", ".join(t.name for t in reversed(metadata.sorted_tables))
    with db.engine.begin() as conn:
        conn.execute(text(f"TRUNCATE {tables} RESTART IDENTITY CASCADE"))
    db.dispose()


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])
