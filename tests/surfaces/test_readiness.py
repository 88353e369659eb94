"""/healthz says the process lives; /readyz says Herald can do its work: the database and the
broker answer, the schema is current, and a worker and a scheduler have beaten recently."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta

import pytest
from fastapi.testclient import TestClient

from bot.opsreport import render_status
from bot.runtime import Runtime, build_runtime
from bot.web.app import create_app
from core.operations.heartbeats import Kind, beat
from core.operations.status import status
from core.settings import Settings
from workers.app import EmbeddedWorker


@pytest.fixture
def bare(settings: Settings) -> Iterator[Runtime]:
    """Herald with no worker or scheduler of its own: the test starts and stops them."""
    rt = build_runtime(settings)
    yield rt
    rt.close()


def start_worker(rt: Runtime) -> None:
    rt.embedded = EmbeddedWorker(rt.celery, rt.settings)
    rt.embedded.start()


def stop_worker(rt: Runtime) -> None:
    assert rt.embedded is not None
    rt.embedded.stop()
    rt.embedded = None


def test_readyz_turns_not_ready_when_the_worker_stops_and_ready_when_it_starts(
    bare: Runtime,
) -> None:
    with TestClient(create_app(bare)) as web:
        answer = web.get("/readyz")
        assert answer.status_code == 503
        checks = answer.json()["checks"]
        assert checks["database"]["ok"] and checks["broker"]["ok"] and checks["schema"]["ok"]
        assert checks["worker"] == {"ok": False, "detail": "none running"}
        assert checks["scheduler"] == {"ok": False, "detail": "none running"}
        assert web.get("/healthz").status_code == 200  # alive, only not ready

        start_worker(bare)
        answer = web.get("/readyz")
        assert answer.status_code == 200, answer.json()
        assert answer.json()["checks"]["worker"]["detail"].startswith("1 alive")

        stop_worker(bare)
        answer = web.get("/readyz")
        assert answer.status_code == 503
        assert answer.json()["checks"]["worker"]["detail"] == "none running"

        start_worker(bare)
        assert web.get("/readyz").status_code == 200


def test_a_worker_that_died_without_a_word_goes_stale(bare: Runtime) -> None:
    ctx = bare.herald.ctx
    now = ctx.clock.now()
    # A worker killed with -9 leaves its row behind: only its age tells.
    beat(ctx.db, Kind.WORKER, "publish1@host", 4242, now - timedelta(seconds=300))
    beat(ctx.db, Kind.SCHEDULER, "beat@host", 4243, now)
    with TestClient(create_app(bare)) as web:
        answer = web.get("/readyz")
    assert answer.status_code == 503
    detail = answer.json()["checks"]["worker"]["detail"]
    assert detail.startswith("none alive: the last beat was 30")
    assert answer.json()["checks"]["scheduler"]["ok"]


def test_status_prints_the_checks_and_the_processes_seen(runtime: Runtime) -> None:
    report = status(runtime.herald.ctx)
    text = render_status(report, "Europe/Berlin")
    assert report.ready, text
    assert text.splitlines()[0].startswith("Herald is ready · ")
    assert "UTC)" in text.splitlines()[0]
    assert "  ok  worker: 1 alive" in text
    assert "worker embedded@" in text and "scheduler embedded@" in text
    assert "Queue: 0 due or queued" in text
