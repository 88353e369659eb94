# ruff: noqa: S603 - the bench starts herald and its own no-op worker
"""Publishing throughput: N approved outbox targets due at once on PostgreSQL + Redis, published
by 1 and 2 `herald worker` processes with a `herald scheduler`; beside it, in the same command,
a no-op Celery task on the same Redis with the same worker settings (threads pool, the same
concurrency, late acks, prefetch 1) is the baseline.

Rates are steady rates, from the first publication (or no-op) to the last, so the wait for the
first tick does not count; the rate from the instant they were due is printed beside it. Each
figure is the median of --runs runs: other work shares the machine. The outbox network answers
at once (it writes a file). Target (issue 11): posts/s with 2 workers at least 0.3x the no-op
rate. Resident memory (RSS) of worker and scheduler is their peak during the runs.

    .venv/bin/python bench/pipeline.py [--count 5000] [--runs 3] [--tick 1] [--workers 1,2]
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import time
from datetime import UTC, datetime

import redis
from stack import (
    REDIS,
    MemoryWatch,
    Stack,
    make_due,
    median,
    peak_memory,
    seed,
    stack,
    timings,
    wait_published,
)


def publish_run(st: Stack, count: int, workers: int, concurrency: int) -> tuple[float, float, dict]:
    st.reset()
    seed(st, count)
    procs = {"scheduler": st.start("scheduler")}
    for n in range(workers):
        procs[f"worker{n + 1}"] = st.start("worker", "--concurrency", str(concurrency))
    time.sleep(5.0)  # both started and idle: what is measured is the burst, not the start
    due = datetime.now(UTC)
    with MemoryWatch(procs) as memory:
        make_due(st, due)
        if not wait_published(st, count, timeout=600):
            sys.exit("not everything was published in 10 minutes")
    st.stop_all()
    at = sorted(pub for _, pub in timings(st))
    steady = (len(at) - 1) / (at[-1] - at[0]).total_seconds()
    overall = len(at) / (at[-1] - due).total_seconds()
    return steady, overall, memory.peak


def noop_run(st: Stack, count: int, workers: int, concurrency: int) -> float:
    from celery import Celery

    queue, done = f"{st.queue}.noop", f"{st.queue}.noop.done"
    client = redis.Redis.from_url(REDIS)
    client.delete(queue, done)
    app = Celery("bench", broker=REDIS)
    app.conf.update(task_serializer="json", accept_content=["json"])
    for _ in range(count):
        app.send_task("bench.noop", queue=queue)
    procs = [
        subprocess.Popen(
            [sys.executable, __file__, "--noop-worker", queue, "--concurrency", str(concurrency)],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        for _ in range(workers)
    ]
    deadline = time.monotonic() + 300
    while client.llen(done) < count and time.monotonic() < deadline:
        time.sleep(0.1)
    for proc in procs:
        proc.terminate()
        proc.wait()
    stamps = sorted(float(v) for v in client.lrange(done, 0, -1))
    client.delete(queue, done)
    return (len(stamps) - 1) / (stamps[-1] - stamps[0])


def noop_worker(queue: str, concurrency: int) -> None:
    """A Celery worker whose only task notes when it ran: the baseline's worker."""
    from celery import Celery

    app = Celery("bench", broker=REDIS)
    app.conf.update(
        task_serializer="json",
        accept_content=["json"],
        task_acks_late=True,
        task_reject_on_worker_lost=True,
        worker_prefetch_multiplier=1,
        task_ignore_result=True,
        worker_hijack_root_logger=False,
    )
    client = redis.Redis.from_url(REDIS)

    @app.task(name="bench.noop")  # type: ignore[misc]
    def noop() -> None:
        client.rpush(f"{queue}.done", time.time())

    app.Worker(
        queues=[queue], concurrency=concurrency, pool="threads", loglevel="ERROR", quiet=True
    ).start()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--count", type=int, default=5000)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--tick", type=float, default=1.0, help="HERALD_TICK_SECONDS")
    parser.add_argument("--workers", default="1,2", help="worker process counts to compare")
    parser.add_argument("--concurrency", type=int, default=4, help="threads per worker")
    parser.add_argument("--noop-worker", metavar="QUEUE", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.noop_worker:
        noop_worker(args.noop_worker, args.concurrency)
        return
    print(
        f"{args.count} outbox targets due at once, PostgreSQL + Redis, tick {args.tick} s, "
        f"{args.concurrency} threads per worker; medians of {args.runs} runs"
    )
    print(
        f"{'workers':>7} {'posts/s':>8} {'(from due)':>10} {'no-op/s':>8} {'ratio':>6}  peak RSS MB"
    )
    with stack(args.tick) as st:
        for workers in [int(w) for w in args.workers.split(",")]:
            steady, overall, noops, peaks = [], [], [], []
            for _ in range(args.runs):
                rate, from_due, peak = publish_run(st, args.count, workers, args.concurrency)
                steady.append(rate)
                overall.append(from_due)
                peaks.append(peak)
                noops.append(noop_run(st, args.count, workers, args.concurrency))
            ratio = median(steady) / median(noops)
            shown = peak_memory(peaks)
            print(
                f"{workers:>7} {median(steady):>8.0f} {median(overall):>10.0f} "
                f"{median(noops):>8.0f} {ratio:>6.2f}  {shown}",
                flush=True,
            )


if __name__ == "__main__":
    main()
