# ruff: noqa: S603 - the benches start herald processes and name their own database
"""What the publishing benches share: a fresh PostgreSQL database, Redis queues of their own,
approved outbox targets seeded in bulk, `herald worker`/`herald scheduler` processes and the
resident memory they use. Imported by bench/pipeline.py and bench/lateness.py."""

from __future__ import annotations

import os
import signal
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import psycopg
import redis
from sqlalchemy import func, insert, select, update

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bot.runtime import Runtime, build_runtime  # noqa: E402 - after the path is set
from core.settings import Settings  # noqa: E402
from core.workspace.people import Actor  # noqa: E402
from storage.db import Database  # noqa: E402
from storage.models import Post, SurfaceKind, Target, TargetState  # noqa: E402
from storage.schema import metadata  # noqa: E402
from storage.vault import new_key  # noqa: E402

HERALD = str(Path(sys.executable).with_name("herald"))
PG_ADMIN = os.environ.get("HERALD_BENCH_PG", "postgresql://127.0.0.1:5432/test")
REDIS = os.environ.get("HERALD_BENCH_REDIS", "redis://127.0.0.1:6379/12")
FAR = timedelta(days=30)


def median(values: list[float]) -> float:
    return statistics.median(values) if values else float("nan")


def percentile(values: list[float], share: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(share * len(ordered)))]


@dataclass
class Stack:
    """One database, one queue prefix and one data folder for a bench run."""

    url: str
    queue: str
    data_dir: Path
    tick_seconds: float
    key: str = field(default_factory=new_key)
    extra_env: dict[str, str] = field(default_factory=dict)  # e.g. a fake network's URL
    processes: list[subprocess.Popen[bytes]] = field(default_factory=list)

    def env(self) -> dict[str, str]:
        env = {k: v for k, v in os.environ.items() if not k.startswith("HERALD_")}
        env.update(
            HERALD_DATABASE_URL=self.url,
            HERALD_BROKER_URL=REDIS,
            HERALD_QUEUE=self.queue,
            HERALD_DATA_DIR=str(self.data_dir),
            HERALD_SECRET_KEY=self.key,
            HERALD_TICK_SECONDS=str(self.tick_seconds),
            HERALD_LOG_LEVEL="ERROR",
        )
        env.update(self.extra_env)
        return env

    def settings(self) -> Settings:
        return Settings(  # type: ignore[call-arg]
            _env_file=None,
            database_url=self.url,
            broker_url=REDIS,
            queue=self.queue,
            data_dir=self.data_dir,
            secret_key=self.key,
            tick_seconds=self.tick_seconds,
        )

    def start(self, *command: str) -> subprocess.Popen[bytes]:
        proc = subprocess.Popen(
            [HERALD, *command], env=self.env(), cwd=self.data_dir, stdout=subprocess.DEVNULL
        )
        self.processes.append(proc)
        return proc

    def stop_all(self) -> None:
        for proc in self.processes:
            if proc.poll() is None:
                proc.send_signal(signal.SIGTERM)
        for proc in self.processes:
            try:
                proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
        self.processes.clear()

    def reset(self) -> None:
        """Empty tables and queues between runs (the schema stays)."""
        db = Database(self.url)
        tables = ", ".join(t.name for t in metadata.sorted_tables)
        with db.engine.begin() as conn:
            conn.exec_driver_sql(f"TRUNCATE {tables} RESTART IDENTITY CASCADE")
        db.dispose()
        client = redis.Redis.from_url(REDIS)
        for key in client.scan_iter(f"{self.queue}*"):
            client.delete(key)
        for path in (self.data_dir / "outbox").glob("*.json"):
            path.unlink()


@contextmanager
def stack(tick_seconds: float) -> Iterator[Stack]:
    name = f"herald_bench_{uuid.uuid4().hex[:8]}"
    with psycopg.connect(PG_ADMIN, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    base = PG_ADMIN.rsplit("/", 1)[0].replace("postgresql://", "postgresql+psycopg://")
    url = f"{base}/{name}"
    db = Database(url)
    db.upgrade()
    db.dispose()
    with tempfile.TemporaryDirectory(prefix="herald-bench-") as tmp:
        st = Stack(url, f"herald-bench-{uuid.uuid4().hex[:6]}", Path(tmp), tick_seconds)
        try:
            yield st
        finally:
            st.stop_all()
            with psycopg.connect(PG_ADMIN, autocommit=True) as conn:
                conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def seed(
    st: Stack,
    count: int,
    *,
    to: str = "outbox",
    settings: dict[str, Any] | None = None,
    connect: Callable[[Runtime, Actor], object] | None = None,
) -> None:
    """`count` approved targets on `to` (outbox unless told), scheduled far away: one post
    made through the chat, the rest copied in bulk. `make_due` then brings them forward.
    `settings` point Herald at a fake network, and `connect` connects its account first."""
    rt = build_runtime(st.settings().model_copy(update=settings or {}))
    try:
        who = Actor(
            surface=SurfaceKind.TERMINAL,
            workspace_id="bench",
            workspace_name="Bench",
            user_id="bench",
            user_name="bench",
            conversation="terminal",
        )
        if connect is not None:
            connect(rt, who)
        rt.herald.handle(who, f"draft Bench post --to {to}")
        with rt.db.session() as s:
            post_id = s.scalars(select(Post.id)).one()
        rt.herald.generate(post_id)
        rt.herald.handle(who, "approve 1")
        with rt.db.session() as s:
            post = s.scalars(select(Post)).one()
            target = post.targets[0]
            assert target.state == TargetState.SCHEDULED, target.state
            post_row = _columns(post)
            target_row = _columns(target)
        with rt.db.session() as s:
            for start in range(2, count + 1, 1000):
                numbers = range(start, min(count, start + 999) + 1)
                ids = s.scalars(
                    insert(Post).returning(Post.id), [{**post_row, "number": n} for n in numbers]
                ).all()
                s.execute(
                    insert(Target),
                    [
                        {**target_row, "post_id": pid, "text": f"{target_row['text']} {n}"}
                        for pid, n in zip(ids, numbers, strict=True)
                    ],
                )
            s.execute(update(Target).values(scheduled_at=datetime.now(UTC) + FAR))
    finally:
        rt.close()


def _columns(row: Any) -> dict[str, Any]:
    return {c.key: getattr(row, c.key) for c in row.__table__.columns if c.key != "id"}


def make_due(st: Stack, when: list[datetime] | datetime) -> None:
    """Bring the seeded targets forward: all to one instant, or one instant each (by id)."""
    db = Database(st.url)
    with db.session() as s:
        if isinstance(when, datetime):
            s.execute(update(Target).values(scheduled_at=when))
        else:
            ids = s.scalars(select(Target.id).order_by(Target.id)).all()
            s.execute(
                update(Target),
                [{"id": i, "scheduled_at": w} for i, w in zip(ids, when, strict=True)],
            )
    db.dispose()


def published(st: Stack) -> int:
    db = Database(st.url)
    with db.session() as s:
        n = s.scalar(select(func.count()).where(Target.state == TargetState.PUBLISHED))
    db.dispose()
    return int(n or 0)


def timings(st: Stack) -> list[tuple[datetime, datetime]]:
    """(due, published) of every published target."""
    db = Database(st.url)
    with db.session() as s:
        rows = s.execute(
            select(Target.scheduled_at, Target.published_at).where(
                Target.state == TargetState.PUBLISHED
            )
        ).all()
    db.dispose()
    return [(due, at) for due, at in rows if due is not None and at is not None]


def wait_published(st: Stack, count: int, timeout: float) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if published(st) >= count:
            return True
        time.sleep(0.25)
    return False


def rss_mb(pid: int) -> float:
    """Resident memory of a process and its children, in MB (Linux /proc)."""
    total = 0
    pids = [pid]
    children = Path(f"/proc/{pid}/task/{pid}/children")
    if children.exists():
        pids += [int(p) for p in children.read_text().split()]
    for each in pids:
        try:
            for line in Path(f"/proc/{each}/status").read_text().splitlines():
                if line.startswith("VmRSS:"):
                    total += int(line.split()[1])
        except FileNotFoundError:
            continue
    return total / 1024


def peak_memory(peaks: list[dict[str, float]]) -> str:
    """The highest RSS per process over the runs: "scheduler 104, worker1 110" (MB)."""
    return ", ".join(f"{name} {max(p[name] for p in peaks):.0f}" for name in peaks[0])


class MemoryWatch:
    """The highest resident memory seen per named process while the watch runs."""

    def __init__(self, processes: dict[str, subprocess.Popen[bytes]]) -> None:
        self.processes = processes
        self.peak: dict[str, float] = dict.fromkeys(processes, 0.0)
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def __enter__(self) -> MemoryWatch:
        self._thread.start()
        return self

    def __exit__(self, *_: object) -> None:
        self._stop.set()
        self._thread.join()

    def _run(self) -> None:
        while not self._stop.wait(0.2):
            for name, proc in self.processes.items():
                self.peak[name] = max(self.peak[name], rss_mb(proc.pid))
