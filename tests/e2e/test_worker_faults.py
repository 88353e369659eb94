"""`herald worker` through a broker loss: Redis killed and restarted empty while the worker holds
a delayed (countdown) job. The worker must stay up and go on publishing (issue 11, fault 1)."""

from __future__ import annotations

import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
import redis

from bot.runtime import Runtime, build_runtime
from core.settings import Settings
from tests.support.helpers import (
    actor,
    eventually,
    herald_env,
    outbox_files,
    post_state,
    target_states,
)
from tests.support.processes import OwnRedis
from tests.support.processes import start_herald as _start
from tests.support.processes import stop_herald as _stop
from tests.support.services import truncate


@pytest.fixture
def server_settings(tmp_path: Path, pg_url: str, own_redis: OwnRedis) -> Settings:
    truncate(pg_url)
    return Settings(  # type: ignore[call-arg]
        _env_file=None,
        data_dir=tmp_path / "data",
        database_url=pg_url,
        broker_url=own_redis.url,
        queue=f"herald-fault-{uuid.uuid4().hex[:8]}",
        tick_seconds=0.3,
        sweep_seconds=1.0,
    )


@pytest.fixture
def client(server_settings: Settings) -> Iterator[Runtime]:
    """What a chat process does: send commands and jobs, run no worker."""
    rt = build_runtime(server_settings)
    yield rt
    rt.close()


def _publish_one(rt: Runtime, brief: str, number: int) -> None:
    herald, me = rt.herald, actor()
    assert not herald.handle(me, f"draft {brief} --to outbox").error
    eventually(lambda: post_state(rt, number) == "pending_approval", 30, "the draft")
    assert not herald.handle(me, f"approve {number}").error
    eventually(
        lambda: target_states(rt, number) == {"outbox": "published"}, 30, f"#{number} published"
    )


def test_worker_survives_redis_restarted_empty_while_holding_a_countdown_job(
    server_settings: Settings, client: Runtime, own_redis: OwnRedis, tmp_path: Path
) -> None:
    env = herald_env(server_settings, HERALD_LOG_LEVEL="INFO")
    worker_log, scheduler_log = tmp_path / "worker.log", tmp_path / "scheduler.log"
    worker = _start(["worker", "--concurrency", "2"], env, worker_log)
    scheduler = _start(["scheduler"], env, scheduler_log)
    try:
        _publish_one(client, "Before the broker loss", 1)
        # A reconciliation due in 30 s: the worker reserves it and holds it unacked meanwhile.
        client.celery.send_task("herald.reconcile_target", args=[424242], countdown=30)
        eventually(
            lambda: b"herald.reconcile_target[" in worker_log.read_bytes(), 20, "the job held"
        )
        own_redis.kill()
        time.sleep(2)  # the worker notices the lost connection
        own_redis.start()
        time.sleep(3)
        assert worker.poll() is None, worker_log.read_text()[-4000:]
        # It reconnected and goes on: a new post goes out through it.
        _publish_one(client, "After the broker came back", 2)
        assert [f["post"] for f in outbox_files(client)] == [1, 2]
        assert worker.poll() is None, worker_log.read_text()[-4000:]
        assert scheduler.poll() is None, scheduler_log.read_text()[-4000:]
    finally:
        worker_code = _stop(worker)
        _stop(scheduler)
    assert worker_code == 0, worker_log.read_text()[-4000:]
    assert "Unrecoverable error" not in worker_log.read_text()


def test_warm_shutdown_gives_a_held_countdown_job_back_to_its_queue(
    server_settings: Settings, client: Runtime, own_redis: OwnRedis, tmp_path: Path
) -> None:
    env = herald_env(server_settings, HERALD_LOG_LEVEL="INFO")
    log = tmp_path / "worker.log"
    worker = _start(["worker"], env, log)
    eventually(lambda: b" ready." in log.read_bytes(), 30, "the worker to be ready")
    client.celery.send_task("herald.reconcile_target", args=[424242], countdown=60)
    eventually(lambda: b"herald.reconcile_target[" in log.read_bytes(), 20, "the job held")
    started = time.monotonic()
    assert _stop(worker) == 0, log.read_text()[-4000:]  # SIGTERM: a warm shutdown
    assert time.monotonic() - started < 10  # it did not wait out the countdown
    # The job is back in the publishing queue for the next worker, not lost with this one.
    queued = redis.Redis.from_url(own_redis.url).lrange(f"{server_settings.queue}.publish", 0, -1)
    assert len(queued) == 1 and b"herald.reconcile_target" in queued[0]


def test_compose_restarts_the_worker_and_the_scheduler() -> None:
    import yaml

    compose = yaml.safe_load((Path(__file__).parents[2] / "docker-compose.yml").read_text())
    for service in ("worker", "scheduler"):
        assert compose["services"][service].get("restart") in {"unless-stopped", "on-failure"}
    # Docker's default 10 s before SIGKILL would cut a warm shutdown short.
    assert compose["services"]["worker"]["stop_grace_period"] == "60s"


# Simulates what Celery calls "Unrecoverable error": the consumer fails with a non-broker error.
_FAILING_WORKER = """
import sys
from workers.consumer import HeraldConsumer

def fail(self):
    raise RuntimeError("simulated unrecoverable error")

HeraldConsumer.start = fail
from bot.cli import main
main(["worker"])
"""


def test_a_worker_that_stops_on_an_error_exits_non_zero(
    server_settings: Settings, tmp_path: Path
) -> None:
    """A supervisor restarts on failure only when the exit status says so."""
    env = herald_env(server_settings, HERALD_LOG_LEVEL="INFO")
    result = subprocess.run(
        [sys.executable, "-c", _FAILING_WORKER],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
        cwd=Path(__file__).parents[2],
    )
    assert "Unrecoverable error" in result.stdout + result.stderr
    assert result.returncode != 0
