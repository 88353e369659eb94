"""`stats 90d` answer time and chart render time over 100,000 published targets with three
snapshots each (+1 h, +24 h, +7 d) on PostgreSQL.

One workspace holds them all (the worst case for one `stats`): --posts posts with two targets
each, on the five networks in turn, published evenly over the last --span days, so `stats 90d`
reads 90/span of them and as many again for the period before (the change). Mastodon and
Bluesky report no impressions, as on the real networks.

Timed, --runs times each, p50 and p99: the answer without the chart
(core.analytics.queries.summary: the period and the one before it, added up by the database
from `latest_figures`), then the chart alone (core.analytics.charts: plot and PNG); the first
chart, which loads matplotlib, is shown apart. Then the `stats 90d` command as a person gets
it, through its handler (core.analytics.commands: the transaction, who is asking, the
summary, the text), without and with its chart (the PNG the message carries). The plan of the
period's range scan is printed.
Target (issue 13): p99 under 300 ms without the chart, the chart under 500 ms. The machine's
load is printed beside the figures (a pure-Python loop's time): on a shared machine every
figure scales with it.

With --collect N: collection throughput beside publishing throughput, in the same command.
N approved outbox targets are published by one `herald worker` (--concurrency threads) and a
`herald scheduler`, as bench/pipeline.py does (posts a second, its steady rate), which also
plans each one's snapshots; then the clock is moved to +1 h, and then to +24 h, and
`core.analytics.jobs.collect` reads them all back, one tick at a time in this process (the
beat sends one tick at a time) from the outbox network (a small file read per post, its
made-up figures), and records them: snapshots a second, and their ratio to the publish rate.
+24 h also writes each post's thread line with its card (a terminal workspace: no delivery
job).

    .venv/bin/python bench/stats.py [--posts 50000] [--span 360] [--runs 30] [--keep] [--db NAME]
    .venv/bin/python bench/stats.py --collect 2000 [--rounds 1] [--concurrency 4]
"""

from __future__ import annotations

import argparse
import functools
import os
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import psycopg
from sqlalchemy import func, insert, select, text, update
from stack import PG_ADMIN, median, percentile

from core.analytics import charts, figures, queries
from core.analytics import commands as analytics
from core.analytics.periods import Period, window
from core.context import Context
from core.posts.card import Message
from core.registry import Request
from core.settings import Settings
from core.workspace.people import Actor, resolve, zone_of
from storage import models as m
from storage.db import Database
from storage.models_analytics import LatestFigures, MetricsSnapshot, Milestone

NETWORKS = ("x", "linkedin", "facebook", "mastodon", "bluesky")
NO_IMPRESSIONS = {"mastodon", "bluesky"}
MILESTONES = ((Milestone.HOUR, timedelta(hours=1)), (Milestone.DAY, timedelta(days=1)),
              (Milestone.WEEK, timedelta(days=7)))  # fmt: skip
CHUNK = 5000
TZ = ZoneInfo("Europe/Berlin")


def seed(db: Database, posts: int, span: timedelta, now: datetime) -> int:
    with db.session() as s:
        terminal = m.SurfaceKind.TERMINAL
        ws = m.Workspace(kind=terminal, external_id="bench", name="Bench", settings={})
        s.add(ws)
        s.flush()
        author = m.Member(workspace_id=ws.id, external_id="b", display_name="b", role=m.Role.OWNER)
        s.add(author)
        s.flush()
        ws_id, author_id = ws.id, author.id
    step = span / posts
    for start in range(0, posts, CHUNK):
        numbers = range(start + 1, min(posts, start + CHUNK) + 1)
        with db.session() as s:
            post_ids = s.scalars(
                insert(m.Post).returning(m.Post.id),
                [
                    {
                        "workspace_id": ws_id,
                        "number": n,
                        "author_id": author_id,
                        "brief": "b",
                        "state": m.PostState.APPROVED,
                    }
                    for n in numbers
                ],
            ).all()
            targets = []
            for post_id, n in zip(post_ids, numbers, strict=True):
                at = now - step * n
                for k in range(2):
                    network = NETWORKS[(2 * n + k) % len(NETWORKS)]
                    targets.append(
                        {
                            "post_id": post_id,
                            "network": network,
                            "text": "t",
                            "state": m.TargetState.PUBLISHED,
                            "published_at": at,
                            "external_url": f"https://{network}.example/{n}",
                        }
                    )
            target_ids = s.scalars(insert(m.Target).returning(m.Target.id), targets).all()
            snapshots = [
                _snapshot(target_id, row, milestone, after, now)
                for target_id, row in zip(target_ids, targets, strict=True)
                for milestone, after in MILESTONES
            ]
            s.execute(insert(MetricsSnapshot), snapshots)
            # What core.analytics.store leaves after the three: the +7 d figures are current.
            s.execute(
                insert(LatestFigures),
                [
                    {
                        **{k: v for k, v in newest.items() if k not in ("milestone", "raw")},
                        "workspace_id": ws_id,
                        "post_number": n,
                        "network": row["network"],
                        "published_at": row["published_at"],
                    }
                    for newest, row, n in zip(
                        snapshots[2::3],
                        targets,
                        [n for n in numbers for _ in range(2)],
                        strict=True,
                    )
                ],
            )
    # What autovacuum does to tables in service: planner statistics and the visibility map.
    with db.engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
        conn.execute(text("VACUUM ANALYZE"))
    return ws_id


def _snapshot(
    target_id: int, row: dict[str, Any], milestone: Milestone, after: timedelta, now: datetime
) -> dict[str, Any]:
    grow = {Milestone.HOUR: 1, Milestone.DAY: 4, Milestone.WEEK: 5}[milestone]
    likes = (target_id * 7919) % 60 * grow
    return {
        "target_id": target_id,
        "milestone": milestone,
        "taken_at": min(row["published_at"] + after, now),
        "impressions": None if row["network"] in NO_IMPRESSIONS else likes * 40 + 100,
        "likes": likes,
        "reposts": likes // 7,
        "replies": likes // 11,
        "quotes": likes // 29,
        "clicks": None if row["network"] in NO_IMPRESSIONS else likes // 3,
        "raw": {},
    }


def explain(db: Database, query: Any) -> str:
    compiled = query.compile(dialect=db.engine.dialect)
    with db.engine.connect() as conn:
        lines = conn.exec_driver_sql(
            f"EXPLAIN (ANALYZE, BUFFERS) {compiled}", compiled.construct_params()
        ).scalars()
        return "\n".join(f"    {line}" for line in lines)


def timed(runs: int, body: Callable[[], object]) -> list[float]:
    spent = []
    for _ in range(runs):
        started = time.perf_counter()
        body()
        spent.append((time.perf_counter() - started) * 1000)
    return spent


def calibration() -> str:
    """How busy the machine is: a million additions in pure Python (~40 ms when idle)."""
    started = time.perf_counter()
    total = 0
    for n in range(1_000_000):
        total += n
    spent = (time.perf_counter() - started) * 1000
    return f"1M-add loop {spent:.0f} ms, load average {os.getloadavg()[0]:.1f}"


@contextmanager
def database(name: str | None, keep: bool) -> Iterator[Database]:
    """A database of the bench's own (or the one named, kept from an earlier run)."""
    name = name or f"herald_bench_{uuid.uuid4().hex[:8]}"
    with psycopg.connect(PG_ADMIN, autocommit=True) as conn:
        if not conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", (name,)).fetchone():
            conn.execute(f'CREATE DATABASE "{name}"')
    base = PG_ADMIN.rsplit("/", 1)[0].replace("postgresql://", "postgresql+psycopg://")
    db = Database(f"{base}/{name}")
    db.upgrade()
    try:
        yield db
    finally:
        db.dispose()
        if keep:
            print(f"kept the database {name} (--db {name} runs again without seeding)")
        else:
            with psycopg.connect(PG_ADMIN, autocommit=True) as conn:
                conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


class _At:
    def __init__(self, at: datetime) -> None:
        self.at = at

    def now(self) -> datetime:
        return self.at


class _Kept:
    """The job queue of the collecting process: the handover ticks are run here in turn."""

    def enqueue(self, task: str, *args: int, countdown: float | None = None) -> None:
        pass


def collect_run(st: Any, milestone: Milestone) -> tuple[int, float]:
    """Read back every due `milestone` snapshot of the stack's published targets; (how many,
    seconds)."""
    from bot.runtime import build_runtime
    from core.analytics.jobs import collect
    from core.analytics.schedule import AFTER
    from core.platforms.outbox import OutboxPublisher

    rt = build_runtime(st.settings())
    try:
        with rt.db.session() as s:
            last = s.scalar(select(func.max(m.Target.published_at)))
        assert last is not None
        ctx = rt.herald.ctx
        clock = _At(last + AFTER[milestone] + timedelta(seconds=1))
        ctx.clock = clock
        ctx.publishers = {"outbox": OutboxPublisher(rt.settings.outbox_dir, clock.now)}
        ctx.queue = _Kept()
        started = time.perf_counter()
        recorded = 0
        while True:
            done = collect(ctx)
            if not done:
                break
            recorded += done
        return recorded, time.perf_counter() - started
    finally:
        rt.close()


def collection(count: int, rounds: int, concurrency: int, tick: float) -> None:
    from pipeline import publish_run
    from stack import stack

    print(
        f"{count} outbox targets: published by 1 herald worker ({concurrency} threads), then "
        f"read back by collect (one tick at a time); PostgreSQL + Redis; {rounds} round(s)"
    )
    print(f"{'round':>5} {'posts/s':>8} {'+1 h snapshots/s':>17} {'ratio':>6} "
          f"{'+24 h snapshots/s':>18} {'ratio':>6}")  # fmt: skip
    with stack(tick) as st:
        for n in range(1, rounds + 1):
            posts, _, _ = publish_run(st, count, 1, concurrency)
            got, spent = collect_run(st, Milestone.HOUR)
            assert got == count, f"{got} of {count} +1 h snapshots"
            hour = got / spent
            got, spent = collect_run(st, Milestone.DAY)
            assert got == count, f"{got} of {count} +24 h snapshots"
            day = got / spent
            print(
                f"{n:>5} {posts:>8.0f} {hour:>17.0f} {hour / posts:>6.2f} "
                f"{day:>18.0f} {day / posts:>6.2f}",
                flush=True,
            )
    print(f"({calibration()})")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--posts", type=int, default=50_000, help="two targets each")
    parser.add_argument("--span", type=int, default=360, help="days the posts are spread over")
    parser.add_argument("--runs", type=int, default=30)
    parser.add_argument("--db", help="a database seeded by an earlier run with --keep")
    parser.add_argument("--keep", action="store_true", help="keep the database afterwards")
    parser.add_argument("--collect", type=int, metavar="N", help="collection throughput instead")
    parser.add_argument("--rounds", type=int, default=1, help="of --collect")
    parser.add_argument("--concurrency", type=int, default=4, help="worker threads (--collect)")
    parser.add_argument("--tick", type=float, default=1.0, help="HERALD_TICK_SECONDS (--collect)")
    args = parser.parse_args()
    if args.collect:
        collection(args.collect, args.rounds, args.concurrency, args.tick)
        return
    print(calibration())
    with database(args.db, args.keep) as db:
        with db.session() as s:
            seeded = s.scalar(select(func.max(m.Target.published_at)))
            ws = s.scalar(select(func.min(m.Workspace.id)))
        if seeded is None or ws is None:
            started = time.perf_counter()
            now = datetime.now(UTC)
            ws = seed(db, args.posts, timedelta(days=args.span), now)
            print(
                f"seeded {args.posts * 2:,} published targets, {args.posts * 6:,} snapshots "
                f"over {args.span} days in {time.perf_counter() - started:.0f} s"
            )
        else:
            now = seeded + timedelta(seconds=1)
        period = timedelta(days=90)

        def answer() -> figures.Summary:
            with db.session() as s:
                return queries.summary(s, ws, now - period, now, tz=TZ)

        summary = answer()
        print(
            f"stats 90d: {summary.totals.targets:,} targets in the period, "
            f"{summary.totals.interactions:,} interactions"
        )
        print(explain(db, queries.published_query(ws, now - period, now)))
        answers = timed(args.runs, answer)
        print(
            f"{'stats 90d without the chart':<33} p50 {median(answers):>5.0f} ms  "
            f"p99 {percentile(answers, 0.99):>5.0f} ms"
        )

        def chart() -> bytes:
            bars = {n: float(t.interactions) for n, t in summary.by_network.items()}
            series = {n: [(d, float(v)) for d, v in points] for n, points in summary.daily.items()}
            return charts.png(charts.plot(series, bars, title="Last 90 days"))

        first = timed(1, chart)[0]
        drawn = timed(args.runs, chart)
        print(
            f"{'the chart (plot and PNG)':<33} p50 {median(drawn):>5.0f} ms  "
            f"p99 {percentile(drawn, 0.99):>5.0f} ms  (the first, loading matplotlib: "
            f"{first:.0f} ms; {len(chart()):,} bytes)"
        )
        with db.session() as s:  # the person asking lives in Berlin, as the summary above
            s.execute(update(m.Member).values(timezone=TZ.key))
        ctx = context(db, now)
        for chart_too in (False, True):
            command(ctx, chart_too)  # once untimed: the handler's first run loads what it uses
            spent = timed(args.runs, functools.partial(command, ctx, chart_too))
            with_or_not = "with" if chart_too else "without"
            print(
                f"{f'stats 90d handler, {with_or_not} chart':<33} p50 {median(spent):>5.0f} ms  "
                f"p99 {percentile(spent, 0.99):>5.0f} ms"
            )
        print(f"({args.runs} runs each; {calibration()})")


class _Fixed:
    def __init__(self, now: datetime) -> None:
        self.at = now

    def now(self) -> datetime:
        return self.at


def context(db: Database, now: datetime) -> Context:
    """What the handler is given: the bench's database, its clock stopped at the seed's now;
    nothing here queues a job, publishes or delivers."""
    settings = Settings(_env_file=None, timezone="Europe/Berlin")  # type: ignore[call-arg]
    return Context(
        db=db,
        queue=None,  # type: ignore[arg-type]
        generator=None,  # type: ignore[arg-type]
        publishers={},
        settings=settings,
        clock=_Fixed(now),
    )


def command(ctx: Context, chart: bool) -> Message:
    """`stats 90d` from the bench's member at the terminal, as the registry runs it."""
    actor = Actor(m.SurfaceKind.TERMINAL, "bench", "Bench", "b", "b", "terminal")
    with ctx.tx() as tx:
        ws, me = resolve(tx, actor, ctx.settings.timezone)
        tz = zone_of(me, ws)
        span = window(Period(90), tz, tx.now)
        request = Request(ctx, tx, ws, me, actor)
        message = analytics.period_stats(request, span, None, tz, chart=chart)
    assert len(message.files) == int(chart), message.text
    return message


if __name__ == "__main__":
    main()
