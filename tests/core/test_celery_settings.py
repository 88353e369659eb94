"""The Celery settings written down (issue 11, item 5): delivery guarantees, limits and their
relation, JSON only, and a queue per kind of work, shown to hold against a flood of drafts."""

from __future__ import annotations

import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import func, select

from bot.runtime import Runtime, build_runtime
from core.settings import Settings
from storage.models import Post, PostState
from tests.fakes.openai import FakeOpenAI, llm_settings
from tests.support.helpers import actor, eventually, post_state, target_states
from workers.app import MAX_COUNTDOWN_SECONDS, EmbeddedWorker, HeraldCelery, create_celery

HERALD = str(Path(sys.executable).with_name("herald"))
KINDS = {"generate", "publish", "deliver", "maintain", "analytics"}


def _app(queue: str = "acme") -> HeraldCelery:
    """The app `herald worker` builds (nothing connects until a worker starts)."""
    settings = Settings(_env_file=None, queue=queue, broker_url="redis://127.0.0.1:1/0")  # type: ignore[call-arg]
    return create_celery(settings)


def test_delivery_settings_and_their_relations() -> None:
    conf = _app().conf
    assert conf.task_acks_late is True
    assert conf.task_reject_on_worker_lost is True
    assert conf.worker_prefetch_multiplier == 1
    # JSON only, both ways: nothing on the broker can make a worker unpickle code.
    assert conf.task_serializer == "json"
    assert list(conf.accept_content) == ["json"]
    soft, hard = conf.task_soft_time_limit, conf.task_time_limit
    visibility = conf.broker_transport_options["visibility_timeout"]
    assert 0 < soft < hard
    # A job held for its longest countdown and then running to the hard limit is still not
    # handed to a second worker by Redis.
    assert visibility > MAX_COUNTDOWN_SECONDS + hard
    # The longest legitimate task (a draft: core bounds it by the stale-generating window)
    # ends before the soft limit.
    assert Settings(_env_file=None).stale_generating_seconds < soft  # type: ignore[call-arg]
    # Warm shutdown re-queues what is held; a cold one waits a little, even when idle.
    assert conf.worker_soft_shutdown_timeout > 0
    assert conf.worker_enable_soft_shutdown_on_idle is True


def test_every_task_has_a_queue_of_its_kind_under_the_install_prefix() -> None:
    app = _app("acme")
    queues = {q.name for q in app.conf.task_queues}
    assert queues == {f"acme.{kind}" for kind in KINDS}
    routes = app.conf.task_routes
    herald_tasks = sorted(name for name in app.tasks if name.startswith("herald."))
    assert herald_tasks, "no tasks registered"
    for name in herald_tasks:
        assert routes[name]["queue"] in queues, name
    # The due post's path never shares a queue with drafting.
    publishing = {routes[t]["queue"] for t in ("herald.dispatch_due", "herald.publish_target")}
    assert publishing == {"acme.publish"}
    assert routes["herald.generate_post"]["queue"] == "acme.generate"
    # Another install on the same Redis has queues of its own.
    assert not queues & {q.name for q in _app("other").conf.task_queues}


def test_each_job_lands_in_exactly_its_own_queue() -> None:
    """On Redis, with every queue declared as a worker declares them: one copy, one queue."""
    import redis

    from core.jobs import LANE as ROUTES
    from tests.support.services import REDIS_URL, purge_queues

    prefix = f"routing-{uuid.uuid4().hex[:8]}"
    app = create_celery(Settings(_env_file=None, queue=prefix, broker_url=REDIS_URL))  # type: ignore[call-arg]
    client = redis.Redis.from_url(REDIS_URL)
    try:
        with app.connection_for_write() as conn:
            for queue in app.amqp.queues.values():
                queue(conn.default_channel).declare()
        for task, kind in ROUTES.items():
            app.send_task(task, args=[1])
            lengths = {k: client.llen(f"{prefix}.{k}") for k in KINDS}
            assert lengths == {k: int(k == kind) for k in KINDS}, task
            client.delete(f"{prefix}.{kind}")
    finally:
        purge_queues(REDIS_URL, prefix)
        for key in client.scan_iter(f"_kombu.binding.{prefix}*"):
            client.delete(key)


def test_worker_refuses_an_unknown_kind_of_work(tmp_path: Path) -> None:
    env = {"PATH": "/usr/bin:/bin", "HERALD_DATA_DIR": str(tmp_path)}
    result = subprocess.run(
        [HERALD, "worker", "--queues", "publish,drafts"],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 2
    assert "drafts is not a kind of work" in result.stderr
    assert "publish, deliver, generate, maintain" in result.stderr
    assert "Traceback" not in result.stderr


# --- the routing is real: a flood of drafts on PostgreSQL + Redis with a real worker ---------


@pytest.fixture
def flooded(settings: Settings) -> Iterator[tuple[Runtime, FakeOpenAI]]:
    with FakeOpenAI() as fake:
        rt = build_runtime(llm_settings(settings, fake, llm_timeout_seconds=5.0))
        worker = EmbeddedWorker(rt.celery, rt.settings)
        worker.start()
        rt.embedded = worker
        try:
            yield rt, fake
        finally:
            rt.close()


def _drafting(rt: Runtime) -> int:
    with rt.db.session() as s:
        return int(
            s.scalar(select(func.count(Post.id)).where(Post.state == PostState.GENERATING)) or 0
        )


@pytest.mark.parametrize("backend", ["postgres"])
def test_a_due_post_goes_out_promptly_behind_200_drafts(
    flooded: tuple[Runtime, FakeOpenAI],
) -> None:
    rt, fake = flooded
    me = actor()
    assert not rt.herald.handle(me, "draft Launch day --to outbox").error
    eventually(lambda: post_state(rt, 1) == "pending_approval", 30, "the first draft")
    # Every further draft takes the model a second: 200 of them keep 4 threads busy 50 s, so
    # the flood is still there however slowly a loaded machine sends them.
    for _ in range(200):
        fake.then_hang(1.0)
    for n in range(200):
        assert not rt.herald.handle(me, f"draft Idea number {n} --to outbox").error
    assert _drafting(rt) > 120
    started = time.monotonic()
    assert not rt.herald.handle(me, "approve 1").error
    eventually(lambda: target_states(rt, 1) == {"outbox": "published"}, 20, "#1 published")
    took = time.monotonic() - started
    still_drafting = _drafting(rt)
    assert took < 3.0, f"the due post waited {took:.1f} s behind the drafts"
    assert still_drafting > 100  # the flood was still there when the post went out


def test_a_stop_never_waits_forever_for_a_brpop_reply_its_loop_took() -> None:
    """The worker's loop and a stop from another thread may both go for the one BRPOP reply:
    the loop reads it, then the stop's close of the channel (which had seen a reply pending)
    reads again. That read must end, not hang the stop (it hung a CI run for 180 s)."""
    import contextlib
    import threading
    from queue import Empty

    from kombu.connection import Connection

    from tests.support.services import REDIS_URL, require_services

    require_services()
    app = _app(f"race-{uuid.uuid4().hex[:8]}")
    options = dict(app.conf.broker_transport_options)
    assert 1.0 < options["socket_timeout"] <= 30.0  # longer than a BRPOP's 1 s, and finite
    options["socket_timeout"] = 1.5  # the same race, without waiting the full 10 s
    # kombu is untyped, and this drives its Redis channel's own steps.
    conn: Any = Connection(REDIS_URL, transport_options=options)  # type: ignore[no-untyped-call]
    channel: Any = conn.default_channel
    channel.basic_consume(
        app.conf.task_default_queue, no_ack=True, callback=lambda *a: None, consumer_tag="t"
    )
    conn.transport.cycle._register_BRPOP(channel)  # what the loop does: BRPOP sent, 1 s
    waiting_on = channel._in_poll
    with pytest.raises(Empty):  # the loop's read: nothing was queued
        channel._brpop_read()
    channel._in_poll = waiting_on  # what the stop saw before the loop's read cleared it
    closed = threading.Event()

    def close() -> None:
        # A timeout, which a worker's stop ignores like any other connection error.
        with contextlib.suppress(*conn.connection_errors):
            conn.close()
        closed.set()

    threading.Thread(target=close, daemon=True).start()
    assert closed.wait(10), "closing the channel hung on a reply that will never come"
