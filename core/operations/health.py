"""Readiness: can this Herald do its work right now? What /readyz and `herald status` report.

Ready means the database and the broker answer, the schema is this code's, and at least one
worker and one scheduler have beaten recently. A Herald with no live worker takes commands but
would never publish them: that is not ready.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from core.context import Context
from core.errors import Unavailable
from core.operations.heartbeats import Kind, Seen, seen


@dataclass(frozen=True)
class Check:
    name: str
    ok: bool
    detail: str


def readiness(ctx: Context) -> list[Check]:
    """Each check in a fixed order; a failing one says what is wrong in plain words."""
    now = ctx.clock.now()
    checks = [_database(ctx)]
    if not checks[0].ok:  # the rest all read the database
        return [*checks, _broker(ctx)]
    checks += [_broker(ctx), _schema(ctx)]
    try:
        processes = seen(ctx.db)
    except Exception as exc:  # noqa: BLE001 - reported as the check's failure
        detail = f"the heartbeats cannot be read ({type(exc).__name__})"
        return [*checks, Check("worker", False, detail), Check("scheduler", False, detail)]
    stale = ctx.settings.heartbeat_stale_seconds
    for kind in Kind:
        checks.append(_heartbeat(kind, processes, now, stale))
    return checks


def _database(ctx: Context) -> Check:
    try:
        with ctx.db.engine.connect() as conn:
            conn.exec_driver_sql("SELECT 1")
    except Exception as exc:  # noqa: BLE001 - reported as the check's failure
        return Check("database", False, f"does not answer ({type(exc).__name__})")
    return Check("database", True, "answers")


def _broker(ctx: Context) -> Check:
    try:
        ctx.check_queue()
    except Unavailable as exc:
        return Check("broker", False, str(exc).split(", so I did nothing")[0])
    return Check("broker", True, "answers")


def _schema(ctx: Context) -> Check:
    if ctx.db.schema_current():
        return Check("schema", True, "current")
    return Check("schema", False, "out of date: run `herald db upgrade`")


def _heartbeat(kind: Kind, processes: list[Seen], now: datetime, stale: float) -> Check:
    mine = [p for p in processes if p.kind == kind]
    fresh = [p for p in mine if p.fresh(now, stale)]
    if fresh:
        age = (now - fresh[0].beat_at).total_seconds()
        return Check(str(kind), True, f"{len(fresh)} alive, last beat {age:.0f} s ago")
    if mine:
        age = (now - mine[0].beat_at).total_seconds()
        return Check(str(kind), False, f"none alive: the last beat was {age:.0f} s ago")
    return Check(str(kind), False, "none running")
