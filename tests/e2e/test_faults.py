"""Fault drills against real parts (issue 11, build 4): PostgreSQL, a redis-server of the test's
own, real `herald worker` and `herald scheduler` processes, and a fake network that counts what
it receives. Workers and schedulers are SIGKILLed, Redis restarted empty, database connections
terminated, the network refuses, stalls and cuts; then the fake's count per text must be 1.

The fake Mastodon here ignores idempotency keys (`honour_keys = False`), so a second POST of a
text is a second status: the count measures Herald's own protocol, not the network's mercy.
"""

from __future__ import annotations

import re
import time
import uuid
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from functools import partial
from pathlib import Path
from typing import Any

import psycopg
import pytest
from sqlalchemy import func, select

from bot.runtime import Runtime
from core.settings import Settings
from storage.models import AuditEvent, Post, PublishAttempt, Target
from tests.fakes.mastodon import FakeMastodon
from tests.fakes.server import iso_now
from tests.fakes.x import FakeX
from tests.support.helpers import actor, eventually, herald_env
from tests.support.platforms import add_account, runtime_with
from tests.support.processes import OwnRedis, Processes
from tests.support.services import PG_ADMIN_URL, purge_queues, truncate

pytestmark = pytest.mark.slow

MARIA = actor("maria")
STALE_QUEUED, STALE_PUBLISHING = 2.0, 4.0
# Every wait is bounded: a burst settles in seconds; this covers a slow CI machine.
SETTLE = 90.0


@dataclass
class Rig:
    """One test's Herald: the chat side (`rt`, runs no worker), its processes and its broker."""

    rt: Runtime
    procs: Processes
    redis: OwnRedis
    pg_url: str


@pytest.fixture
def masto() -> Iterator[FakeMastodon]:
    server = FakeMastodon().start()
    server.honour_keys = False
    yield server
    for fault in server.__dict__.get("answer_faults", []):
        fault.release.set()
    server.stop()


@pytest.fixture
def xfake() -> Iterator[FakeX]:
    server = FakeX().start()
    yield server
    server.stop()


def _rig(
    tmp_path: Path, pg_url: str, own_redis: OwnRedis, **more: Any
) -> tuple[Runtime, dict[str, str]]:
    truncate(pg_url)
    knobs: dict[str, Any] = {
        "tick_seconds": 0.3,
        "sweep_seconds": 1.0,
        "stale_queued_seconds": STALE_QUEUED,
        "stale_publishing_seconds": STALE_PUBLISHING,
        **more,
    }
    settings = Settings(  # type: ignore[call-arg]
        _env_file=None,
        data_dir=tmp_path / "data",
        database_url=pg_url,
        broker_url=own_redis.url,
        queue=f"herald-fault-{uuid.uuid4().hex[:8]}",
        **knobs,
    )
    rt = runtime_with(settings, worker=False)
    env = herald_env(rt.settings, HERALD_LOG_LEVEL="INFO", HERALD_PUBLIC_URL=rt.settings.public_url)
    env.update({f"HERALD_{k.upper()}": str(v) for k, v in knobs.items()})
    return rt, env


@pytest.fixture
def make_rig(tmp_path: Path, pg_url: str, own_redis: OwnRedis) -> Iterator[Any]:
    made: list[Rig] = []

    def make(**more: Any) -> Rig:
        rt, env = _rig(tmp_path, pg_url, own_redis, **more)
        rig = Rig(rt, Processes(env, tmp_path), own_redis, pg_url)
        made.append(rig)
        return rig

    yield make
    for rig in made:
        rig.procs.stop_all()
        rig.rt.close()


def connect_mastodon(rt: Runtime, fake: FakeMastodon) -> None:
    add_account(
        rt,
        "mastodon",
        "acme@masto.test",
        "@acme@masto.test",
        {"instance": fake.url, "access_token": "masto-token", "id": "109"},
    )


def approve_burst(rig: Rig, count: int, network: str = "mastodon") -> list[str]:
    """`count` posts approved and due now, nothing claimed yet; their texts."""
    herald = rig.rt.herald
    for n in range(1, count + 1):
        reply = herald.handle(MARIA, f"draft Fault drill note {n} --to {network}")
        assert not reply.error, reply.text
        with rig.rt.db.session() as s:
            post_id = s.scalar(select(Post.id).where(Post.number == reply.post_number))
        herald.generate(int(post_id or 0))
        reply = herald.handle(MARIA, f"approve {reply.post_number}")
        assert not reply.error, reply.text
    # The generation and delivery nudges the chat side sent: this test's processes start clean.
    purge_queues(rig.redis.url, rig.rt.settings.queue)
    with rig.rt.db.session() as s:
        texts = list(s.scalars(select(Target.text).order_by(Target.id)))
    assert len(set(texts)) == count  # every post distinct: a count per text says it all
    return texts


def mastodon_burst(
    make_rig: Any, fake: FakeMastodon, count: int, **more: Any
) -> tuple[Rig, list[str]]:
    """A rig with a Mastodon account and `count` posts approved for it, due now."""
    rig: Rig = make_rig(**more)
    connect_mastodon(rig.rt, fake)
    return rig, approve_burst(rig, count)


def states(rt: Runtime) -> Counter[str]:
    with rt.db.session() as s:
        return Counter(state.value for state in s.scalars(select(Target.state)))


def settled(rt: Runtime) -> bool:
    return set(states(rt)) <= {"published", "failed", "cancelled"}


def _flat(html: str) -> str:
    return "".join(re.sub(r"<[^>]+>", "", html).split())


def statuses(fake: FakeMastodon) -> Counter[str]:
    return Counter(_flat(status["content"]) for status in fake.statuses)


def posts_of(fake: FakeMastodon, text: str) -> int:
    """How many times Herald POSTed this text (whatever the fake did with it)."""
    return sum(
        1 for r in fake.seen("/api/v1/statuses", "POST") if r.json and r.json["status"] == text
    )


def assert_each_published_once(rig: Rig, fake: FakeMastodon, texts: list[str]) -> None:
    def done() -> bool:
        rig.procs.supervise()
        return settled(rig.rt)

    try:
        eventually(done, SETTLE, "every target settled")
    except AssertionError as exc:
        raise AssertionError(f"{exc}: {states(rig.rt)}\n{rig.procs.tail()}") from None
    assert states(rig.rt) == {"published": len(texts)}, rig.procs.tail()
    counts = statuses(fake)
    lost = [t for t in texts if counts[_flat(t)] == 0]
    doubled = {t: n for t, n in counts.items() if n > 1}
    assert not lost, f"never reached the network: {lost}"
    assert not doubled, f"published more than once: {doubled}"
    assert sum(counts.values()) == len(texts)


def start_burst(rig: Rig, workers: int = 1, schedulers: int = 1) -> None:
    for _ in range(workers):
        rig.procs.worker()
    for _ in range(schedulers):
        rig.procs.scheduler()


# --- (a) a worker SIGKILLed in the middle of a burst ------------------------------------------


def test_a_worker_killed_before_and_after_the_network_call_loses_and_doubles_nothing(
    make_rig: Any, masto: FakeMastodon
) -> None:
    rig, texts = mastodon_burst(make_rig, masto, 60)
    # The 15th POST is held and never handled: the worker dies after committing `publishing`,
    # before the network got anything. The 35th is created, and the worker dies before the
    # answer arrives: the network has the post, Herald has no record of it.
    before = masto.on_answer("/api/v1/statuses", "hold", 15)
    after = masto.on_answer("/api/v1/statuses", "stall", 35)
    start_burst(rig)
    first = rig.procs.running[0]
    assert before.reached.wait(60), rig.procs.tail()
    rig.procs.kill(first)
    before.release.set()
    second = rig.procs.worker()
    assert after.reached.wait(60), rig.procs.tail()
    rig.procs.kill(second)
    after.release.set()
    rig.procs.worker()
    assert_each_published_once(rig, masto, texts)
    assert rig.procs.alive(), rig.procs.tail()


# --- (b) Redis killed and restarted empty with targets queued -------------------------------


def _redis_lost_mid_publish(
    make_rig: Any, masto: FakeMastodon, count: int
) -> tuple[Rig, list[str]]:
    """`count` targets claimed and queued in Redis; Redis is killed (with every queued job)
    while a worker is inside a publish, restarted empty, and only then the publish ends."""
    rig, texts = mastodon_burst(make_rig, masto, count)
    assert rig.rt.herald.dispatch_due() == count  # all claimed: `count` publish jobs in Redis
    inside = masto.on_answer("/api/v1/statuses", "stall", min(count, 10))
    start_burst(rig)
    assert inside.reached.wait(60), rig.procs.tail()
    rig.redis.kill()
    time.sleep(1)
    rig.redis.start()
    worker_log = rig.procs.logs[0]
    eventually(
        lambda: worker_log.read_bytes().count(b"Connected to redis") >= 2, 30, "a reconnection"
    )
    inside.release.set()  # the job it held all along ends only now, on the new connection
    return rig, texts


def test_redis_restarted_empty_with_targets_queued_loses_nothing(
    make_rig: Any, masto: FakeMastodon
) -> None:
    rig, texts = _redis_lost_mid_publish(make_rig, masto, 60)
    started = time.monotonic()
    # With a supervisor's restart policy (compose `restart: unless-stopped`), as deployed.
    assert_each_published_once(rig, masto, texts)
    # Rows are the truth: the sweeper re-sent the lost nudges within the stale windows.
    assert time.monotonic() - started < STALE_QUEUED + STALE_PUBLISHING + 30


def test_the_worker_stays_up_when_a_job_outlives_a_redis_restart(
    make_rig: Any, masto: FakeMastodon
) -> None:
    rig, _ = _redis_lost_mid_publish(make_rig, masto, 3)
    time.sleep(3)  # the held job ends and is acked on the new connection
    assert rig.procs.alive(), rig.procs.tail()


# --- (c) every PostgreSQL connection terminated during a burst -------------------------------


def _published_at_least(masto: FakeMastodon, count: int) -> bool:
    return len(masto.statuses) >= count


def _terminate_backends(pg_url: str) -> int:
    name = pg_url.rsplit("/", 1)[1]
    with psycopg.connect(PG_ADMIN_URL, autocommit=True) as admin:
        rows = admin.execute(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
            "WHERE datname = %s AND pid <> pg_backend_pid()",
            (name,),
        ).fetchall()
    return len(rows)


def test_every_database_connection_terminated_during_a_burst(
    make_rig: Any, masto: FakeMastodon
) -> None:
    rig, texts = mastodon_burst(make_rig, masto, 60)
    masto.delay = 0.05
    start_burst(rig)
    terminated = 0
    for at_least in (5, 20, 35):
        eventually(partial(_published_at_least, masto, at_least), 60, f"{at_least} published")
        terminated += _terminate_backends(rig.pg_url)
    assert terminated >= 3  # the workers' connections were there to be cut
    masto.delay = 0.0
    assert_each_published_once(rig, masto, texts)
    assert rig.procs.alive(), rig.procs.tail()


# --- (d) 429 with Retry-After and 5xx in bursts ----------------------------------------------


def test_rate_limits_and_server_errors_in_bursts_are_waited_out(
    make_rig: Any, masto: FakeMastodon
) -> None:
    # A 429 or a 5xx must not use up the target (issue 11, fault 3): attempts are generous here
    # so this test is about timing; the attempt count has its own tests.
    rig, texts = mastodon_burst(make_rig, masto, 20, max_publish_attempts=6)
    for _ in range(3):
        masto.fail_next("post", 503, {"error": "unavailable"})
    wait = 3
    reset = (datetime.now(UTC) + timedelta(seconds=wait + 2)).isoformat()
    headers = {"Retry_After": str(wait), "X_RateLimit_Reset": reset, "X_RateLimit_Remaining": "0"}
    masto.fail_next("post", 429, {"error": "Too many requests"}, **headers)
    masto.fail_next("post", 502, {"error": "bad gateway"})
    masto.fail_next("post", 503, {"error": "unavailable"})
    start_burst(rig)
    assert_each_published_once(rig, masto, texts)
    posts = masto.seen("/api/v1/statuses", "POST")
    limited = posts[3]
    allowed = max(limited.at + wait, datetime.fromisoformat(reset).timestamp())
    # One request may already have been on its way when the 429 was sent (two worker slots).
    early = [r.at - limited.at for r in posts[4:] if limited.at + 1.0 < r.at < allowed]
    assert early == [], f"requests {early} s after the 429, before the time it allowed"


def test_rate_limits_do_not_use_up_the_attempts(make_rig: Any, masto: FakeMastodon) -> None:
    """429, 429, 503 is one unclear outcome: with the default 3 attempts it still goes out."""
    rig, (text,) = mastodon_burst(make_rig, masto, 1)
    soon = (datetime.now(UTC) + timedelta(seconds=1)).isoformat()
    for _ in range(2):
        masto.fail_next("post", 429, {"error": "Too many requests"}, X_RateLimit_Reset=soon)
    masto.fail_next("post", 503, {"error": "unavailable"})
    start_burst(rig)
    eventually(lambda: settled(rig.rt), SETTLE, "the target settled")
    assert states(rig.rt) == {"published": 1}, "gave up although only one outcome was unclear"
    assert statuses(masto) == {_flat(text): 1}


# --- (e) accepted, then the connection cut before the answer ---------------------------------


def test_a_post_accepted_then_cut_off_is_reconciled_not_reposted(
    make_rig: Any, masto: FakeMastodon
) -> None:
    rig, texts = mastodon_burst(make_rig, masto, 20)
    cuts = [masto.on_answer("/api/v1/statuses", "cut", n) for n in (3, 11)]
    start_burst(rig)
    assert_each_published_once(rig, masto, texts)
    assert all(cut.reached.is_set() for cut in cuts)
    # Each text went out in one POST: the cut ones were found by looking, not sent again.
    assert {posts_of(masto, t) for t in texts} == {1}
    assert masto.seen("/api/v1/accounts/109/statuses", "GET")  # it did look


# --- (f) two schedulers, one SIGKILLed and restarted -----------------------------------------


def test_two_schedulers_and_a_killed_scheduler_claim_nothing_twice(
    make_rig: Any, masto: FakeMastodon
) -> None:
    rig, texts = mastodon_burst(make_rig, masto, 60)
    masto.delay = 0.03
    start_burst(rig, workers=2, schedulers=2)
    eventually(lambda: len(masto.statuses) >= 20, 60, "the burst under way")
    rig.procs.kill(rig.procs.running[2])  # a scheduler, mid-burst
    rig.procs.scheduler()
    masto.delay = 0.0
    assert_each_published_once(rig, masto, texts)
    with rig.rt.db.session() as s:
        claims = s.execute(
            select(AuditEvent.target_id, func.count())
            .where(AuditEvent.action == "target.claim")
            .group_by(AuditEvent.target_id)
        ).all()
        attempts = s.execute(
            select(PublishAttempt.target_id, func.count()).group_by(PublishAttempt.target_id)
        ).all()
    assert len(claims) == 60 and {n for _, n in claims} == {1}, "a target was claimed twice"
    assert len(attempts) == 60 and {n for _, n in attempts} == {1}, "an attempt ran twice"
    assert {posts_of(masto, t) for t in texts} == {1}
    assert rig.procs.alive(), rig.procs.tail()


# --- (g) no idempotency keys, repeated text refused, more than a page in between -------------


def test_a_refused_repeat_after_more_than_a_page_is_neither_doubled_nor_failed(
    make_rig: Any, xfake: FakeX
) -> None:
    rig = make_rig(x_api_url=xfake.url, x_upload_url=xfake.url)
    add_account(
        rig.rt, "x", "2244994945", "@acme", {"access_token": "x-access-1", "refresh_token": "r"}
    )
    (text,) = approve_burst(rig, 1, "x")
    cut = xfake.on_answer("/2/tweets", "cut", 1)
    start_burst(rig)
    assert cut.reached.wait(60), rig.procs.tail()
    # Before reconciliation looks, the account posts more than one page (100) from elsewhere.
    others = [
        {"id": xfake.next_id(), "text": f"Elsewhere {n}", "created_at": iso_now()}
        for n in range(120)
    ]
    with xfake.lock:
        xfake.posts.extend(others)
    eventually(lambda: settled(rig.rt), SETTLE, "the target settled")
    assert [p["text"] for p in xfake.posts].count(text) == 1
    assert states(rig.rt) == {"published": 1}, "published, yet reported as failed"
