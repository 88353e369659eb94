"""A real `herald worker` and `herald scheduler` serve /metrics on their own ports, to the bearer
of HERALD_METRICS_TOKEN only: the worker shows the tick it ran (the schedule's heartbeat), the
scheduler the backlog and the lanes. A second worker told to use a taken port stops at once and
says what to do."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from bot.runtime import Runtime
from core.settings import Settings
from tests.support.helpers import eventually, herald_env
from tests.support.platforms import runtime_with
from tests.support.processes import Processes
from tests.support.scrape import Scrape, parse
from tests.support.services import REDIS_URL, free_port, truncate

TOKEN = "e2e-metrics-token-7d2b"


@pytest.fixture
def rig(tmp_path: Path, pg_url: str) -> Iterator[tuple[Runtime, Processes]]:
    truncate(pg_url)
    settings = Settings(  # type: ignore[call-arg]
        _env_file=None,
        data_dir=tmp_path / "data",
        database_url=pg_url,
        broker_url=REDIS_URL,
        queue=f"herald-metrics-{uuid.uuid4().hex[:8]}",
        tick_seconds=0.5,
    )
    rt = runtime_with(settings, worker=False)
    procs = Processes(herald_env(rt.settings, HERALD_METRICS_TOKEN=TOKEN), tmp_path)
    yield rt, procs
    procs.stop_all()
    rt.close()


def scrape(port: int) -> Scrape | None:
    try:
        answer = httpx.get(
            f"http://127.0.0.1:{port}/metrics",
            headers={"Authorization": f"Bearer {TOKEN}"},
            timeout=2,
        )
    except httpx.TransportError:
        return None
    return parse(answer.text) if answer.status_code == 200 else None


def test_worker_and_scheduler_serve_metrics(rig: tuple[Runtime, Processes]) -> None:
    _, procs = rig
    worker_port, scheduler_port = free_port(), free_port()
    procs.start("worker", "--concurrency", "2", "--metrics-port", str(worker_port))
    procs.start("scheduler", "--metrics-port", str(scheduler_port))

    def ticked() -> float:
        got = scrape(worker_port)
        tick = "herald_task_last_success_timestamp_seconds"
        return got.value(tick, task="herald.dispatch_due") if got else 0.0

    assert eventually(ticked, timeout=30, what="the worker's tick heartbeat") > 0
    got = eventually(lambda: scrape(scheduler_port), timeout=30, what="the scheduler's port")
    assert got is not None
    assert {"herald_publish_backlog", "herald_publish_lag_seconds"} <= got.names
    assert ("herald_queue_depth", frozenset({("lane", "publish")})) in got.samples
    for port in (worker_port, scheduler_port):  # without the token: refused
        assert httpx.get(f"http://127.0.0.1:{port}/metrics", timeout=2).status_code == 401

    second = procs.start("worker", "--metrics-port", str(worker_port))
    assert second.wait(30) == 1
    said = procs.logs[-1].read_text()
    assert f"Port {worker_port} on 127.0.0.1 is taken" in said
    assert "--metrics-port 9103, or 0 for none" in said
    assert "Traceback" not in said
