"""Scale-out: 1, 2 and 4 `herald worker` processes on one PostgreSQL and Redis publish N X
targets (5,000) to a local fake X that answers each post in 50 ms. Throughput per worker count,
as a ratio to one worker in the same command, and a count of what reached the fake: every
target published exactly once (no duplicate post at X, none lost, none failed).

Each worker runs `--concurrency` threads (1 by default): with 50 ms a post, one thread publishes
at most 20 posts a second, so the network and not this 2-core machine is the limit, as the
target (4 workers at least 3x one) supposes.

    cd bench && ../.venv/bin/python scale_out.py [--count 5000] [--workers 1,2,4] [--delay 0.05]
"""

from __future__ import annotations

import argparse
import logging
import sys
import time
from collections import Counter
from datetime import UTC, datetime, timedelta

from sqlalchemy import func, select
from stack import MemoryWatch, Stack, make_due, peak_memory, seed, stack, timings

from bot.runtime import Runtime
from core.workspace.people import Actor
from storage.db import Database
from storage.models import Target, TargetState
from tests.fakes.x import FakeX
from tests.support.platforms import add_account


def _states(st: Stack) -> dict[str, int]:
    db = Database(st.url)
    with db.session() as s:
        rows = s.execute(select(Target.state, func.count()).group_by(Target.state)).all()
    db.dispose()
    return {str(state): int(n) for state, n in rows}


def run(st: Stack, fake: FakeX, count: int, workers: int, concurrency: int) -> dict[str, object]:
    st.reset()
    with fake.lock:
        fake.posts.clear()
        fake.requests.clear()

    def connect(rt: Runtime, who: Actor) -> None:
        credentials = {"access_token": "x-access-1", "refresh_token": "x-refresh-1"}
        expires = datetime.now(UTC) + timedelta(hours=6)
        add_account(rt, "x", "2244994945", "@acme", credentials, expires_at=expires, who=who)

    seed(st, count, to="x", settings=fake.herald_settings(), connect=connect)
    procs = {"scheduler": st.start("scheduler")}
    for n in range(workers):
        procs[f"worker{n + 1}"] = st.start("worker", "--concurrency", str(concurrency))
    time.sleep(5.0)  # started and idle: the burst is measured, not the start
    due = datetime.now(UTC)
    with MemoryWatch(procs) as memory:
        make_due(st, due)
        deadline = time.monotonic() + 1200
        while time.monotonic() < deadline:
            states = _states(st)
            if states.get(TargetState.PUBLISHED, 0) + states.get(TargetState.FAILED, 0) >= count:
                break
            time.sleep(0.5)
        else:
            sys.exit(f"not everything was published in 20 minutes: {_states(st)}")
    st.stop_all()
    at = sorted(pub for _, pub in timings(st))
    texts = Counter(post["text"] for post in fake.posts)
    return {
        "rate": (len(at) - 1) / (at[-1] - at[0]).total_seconds(),
        "published": len(at),
        "at_x": len(fake.posts),
        "duplicates": sum(n - 1 for n in texts.values() if n > 1),
        "failed": _states(st).get(TargetState.FAILED, 0),
        "memory": memory.peak,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--count", type=int, default=5000)
    parser.add_argument("--workers", default="1,2,4")
    parser.add_argument("--concurrency", type=int, default=1, help="threads per worker")
    parser.add_argument("--delay", type=float, default=0.05, help="the fake's answer time (s)")
    parser.add_argument("--tick", type=float, default=1.0, help="HERALD_TICK_SECONDS")
    args = parser.parse_args()
    logging.getLogger("werkzeug").setLevel(logging.ERROR)  # a line per request otherwise
    fake = FakeX().start()
    fake.delay = args.delay
    print(
        f"{args.count} X targets due at once, PostgreSQL + Redis, fake X answering in "
        f"{args.delay * 1000:.0f} ms, {args.concurrency} thread(s) a worker, tick {args.tick} s"
    )
    print(
        f"{'workers':>7} {'posts/s':>8} {'x 1 wkr':>8} {'published':>9} {'at X':>6} "
        f"{'dupes':>5} {'failed':>6}  peak RSS MB"
    )
    base = None
    try:
        with stack(args.tick) as st:
            st.extra_env = {f"HERALD_{k.upper()}": v for k, v in fake.herald_settings().items()}
            for workers in [int(w) for w in args.workers.split(",")]:
                got = run(st, fake, args.count, workers, args.concurrency)
                rate = float(got["rate"])  # type: ignore[arg-type]
                base = base or rate
                print(
                    f"{workers:>7} {rate:>8.1f} {rate / base:>8.2f} {got['published']:>9} "
                    f"{got['at_x']:>6} {got['duplicates']:>5} {got['failed']:>6}  "
                    f"{peak_memory([got['memory']])}",  # type: ignore[list-item]
                    flush=True,
                )
    finally:
        fake.stop()


if __name__ == "__main__":
    main()
