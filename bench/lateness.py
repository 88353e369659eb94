"""How late posts go out: N approved outbox targets due at one instant, and N spread evenly over
a minute, on PostgreSQL + Redis with `herald scheduler` and W `herald worker` processes.

Lateness is (published - due) per target, from the rows (`published_at` is stamped in the
transaction that records the network's answer). p50, p99 and max are the medians over --runs
runs: other work shares the machine. The baseline in the same command is the tick itself:
target (issue 11) p99 within one tick + 2 s. Resident memory (RSS) of worker and scheduler is
their peak during the runs.

    .venv/bin/python bench/lateness.py [--count 2000] [--runs 3] [--tick 1] [--workers 2]
"""

from __future__ import annotations

import argparse
import sys
import time
from datetime import UTC, datetime, timedelta

from stack import (
    MemoryWatch,
    Stack,
    make_due,
    median,
    peak_memory,
    percentile,
    seed,
    stack,
    timings,
    wait_published,
)

LEAD = timedelta(seconds=2)  # the first target falls due this long after the run starts


def lateness_run(
    st: Stack, count: int, workers: int, spread: float
) -> tuple[list[float], dict[str, float]]:
    st.reset()
    seed(st, count)
    procs = {"scheduler": st.start("scheduler")}
    for n in range(workers):
        procs[f"worker{n + 1}"] = st.start("worker")
    time.sleep(5.0)  # started and idle
    first = datetime.now(UTC) + LEAD
    step = timedelta(seconds=spread / count)
    with MemoryWatch(procs) as memory:
        make_due(st, first if not spread else [first + i * step for i in range(count)])
        if not wait_published(st, count, timeout=spread + 600):
            sys.exit("not everything was published in 10 minutes")
    st.stop_all()
    late = [(at - due).total_seconds() for due, at in timings(st)]
    return late, memory.peak


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--count", type=int, default=2000)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--tick", type=float, default=1.0, help="HERALD_TICK_SECONDS")
    parser.add_argument("--workers", type=int, default=2, help="herald worker processes")
    parser.add_argument("--spread", type=float, default=60.0, help="seconds, second case")
    args = parser.parse_args()
    target = args.tick + 2.0
    print(
        f"{args.count} outbox targets, PostgreSQL + Redis, {args.workers} workers, tick "
        f"{args.tick} s; lateness = published - due, medians of {args.runs} runs; "
        f"target p99 <= tick + 2 s = {target:.1f} s"
    )
    print(f"{'case':<22} {'p50 s':>6} {'p99 s':>6} {'max s':>6} {'p99/target':>10}  peak RSS MB")
    with stack(args.tick) as st:
        for name, spread in (
            ("due at one instant", 0.0),
            (f"spread over {args.spread:.0f} s", args.spread),
        ):
            p50, p99, worst, peaks = [], [], [], []
            for _ in range(args.runs):
                late, peak = lateness_run(st, args.count, args.workers, spread)
                p50.append(percentile(late, 0.50))
                p99.append(percentile(late, 0.99))
                worst.append(max(late))
                peaks.append(peak)
            shown = peak_memory(peaks)
            print(
                f"{name:<22} {median(p50):>6.2f} {median(p99):>6.2f} {median(worst):>6.2f} "
                f"{median(p99) / target:>10.2f}  {shown}",
                flush=True,
            )


if __name__ == "__main__":
    main()
