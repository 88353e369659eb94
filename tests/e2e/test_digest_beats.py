"""Two real `herald scheduler` processes (two Celery beats) and two `herald worker` processes on
PostgreSQL and Redis send a due weekly digest once: both beats send the digest job every half
second, the workers run those jobs side by side, and the `digests_sent` row lets one through."""

from __future__ import annotations

import re
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import func, select

from bot.runtime import Runtime
from core.analytics.digest import DAY_NAMES
from core.settings import Settings
from storage.models import OutboundMessage
from storage.models_analytics import DigestSent
from tests.support.clock import Clock
from tests.support.helpers import actor, eventually, herald_env
from tests.support.platforms import runtime_with
from tests.support.processes import OwnRedis, Processes
from tests.support.services import truncate
from tests.unit.analytics.seeding import Seeder

MARIA = actor("maria")


@pytest.fixture
def rig(tmp_path: Path, pg_url: str, own_redis: OwnRedis) -> Iterator[tuple[Runtime, Processes]]:
    truncate(pg_url)
    settings = Settings(  # type: ignore[call-arg]
        _env_file=None,
        data_dir=tmp_path / "data",
        database_url=pg_url,
        broker_url=own_redis.url,
        queue=f"herald-digest-{uuid.uuid4().hex[:8]}",
    )
    rt = runtime_with(settings, worker=False)
    env = herald_env(rt.settings, HERALD_LOG_LEVEL="INFO", HERALD_DIGEST_SECONDS="0.5")
    procs = Processes(env, tmp_path)
    yield rt, procs
    procs.stop_all()
    rt.close()


def _count(rt: Runtime, what: object) -> int:
    with rt.db.session() as s:
        return int(s.scalar(select(func.count()).select_from(what)) or 0)  # type: ignore[arg-type]


def test_two_beats_and_two_workers_send_one_digest(rig: tuple[Runtime, Processes]) -> None:
    rt, procs = rig
    now = datetime.now(UTC)
    due = now.replace(minute=0, second=0, microsecond=0)
    # Set a week ago (the chat's clock only) for today at this hour, UTC: due since the hour
    # began, and a post of yesterday to report.
    rt.herald.ctx.clock = Clock(now - timedelta(days=7))
    rt.herald.handle(MARIA, "queue")  # the owner
    rt.herald.handle(actor("lee"), "queue")  # a team: one person has no approvals channel
    for command in (
        "config approvals-channel #team",
        f"config digest {DAY_NAMES[due.weekday()].lower()} {due.hour:02d}:00",
    ):
        reply = rt.herald.handle(MARIA, command)
        assert not reply.error, reply.text
    Seeder(rt.db).post(
        rt.herald.workspace_of(MARIA),
        due - timedelta(days=1),
        ("outbox", {"impressions": 120, "likes": 9}),
    )

    procs.worker(concurrency=4)
    procs.worker(concurrency=4)
    first, second = procs.scheduler(), procs.scheduler()
    eventually(lambda: _count(rt, DigestSent) == 1, 90, "the digest sent")

    def sent_by(proc_index: int) -> int:
        return procs.logs[proc_index].read_text().count("(herald.send_digests)")

    def results() -> list[str]:
        """What each run of the job in the two workers returned: how many it sent."""
        runs = "".join(procs.logs[i].read_text() for i in (0, 1))
        return re.findall(r"herald\.send_digests\[[^\]]+\] succeeded in [\d.]+s: (\d+)", runs)

    # Both beats go on sending the job, and the workers go on running it; every run after the
    # first finds the week done (or loses the insert to it).
    eventually(
        lambda: min(sent_by(2), sent_by(3)) >= 3 and len(results()) >= 6,
        90,
        "both beats sending the job, and the workers running it",
    )
    assert first.poll() is None and second.poll() is None, procs.tail()
    assert results().count("1") == 1, procs.tail()

    with rt.db.session() as s:
        texts = [
            (row.conversation, str(row.payload.get("text")))
            for row in s.scalars(select(OutboundMessage))
        ]
    digests = [(where, text) for where, text in texts if text.startswith("📊 Weekly digest")]
    assert len(digests) == 1
    assert digests[0][0] == "team"
    assert "1 post on Outbox · 120 impressions · 9 interactions" in digests[0][1]
    assert _count(rt, DigestSent) == 1
    assert procs.alive(), procs.tail()
