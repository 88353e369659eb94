"""Best time to post: how well a workspace's posts did by weekday and hour on each network,
and the next free slot at the best of those hours (`draft … --at best`, `schedule <n> best`;
core.scheduling.best reads the history and the schedule for them).

How an hour is scored:

1. Each measured post on the network gets a *relative* score: its interactions over the
   network's median (its mean when the median is 0), capped at `CAP` so one viral post does
   not decide every future slot. 1.0 is an ordinary post for that workspace on that network.
2. Posts are put in the cell of the weekday and hour they went out, in the workspace's zone.
3. Each of the 168 cells is shrunk toward a prior: (Σ scores + K·prior) / (n + K), with
   `K = 4`, i.e. the prior weighs as much as four posts. A cell with no post is the prior; one
   with twenty is mostly the workspace's own history.

The prior is shaped like the published industry studies of when posts do well (Sprout Social,
Hootsuite and Buffer all find weekday mornings best and nights worst): weekday mornings
09:00-11:00 highest, falling through the afternoon and evening, nights lowest; weekends lower,
and much lower on LinkedIn, which people read at work. Its mean is about 1.0, the same scale
as the scores, so history moves it by what it shows and no more.
"""

from __future__ import annotations

import statistics
from collections import defaultdict
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

from core.analytics.figures import TargetFigures
from core.networks import NETWORKS
from core.scheduling.queries import SLOT_LEAD, is_free

K = 4.0
CAP = 5.0
# Fewer measured posts than this on a network: the pick is said to come from the prior.
MIN_HISTORY = 8
HORIZON = timedelta(days=7)  # every weekday and hour comes up once

_HOUR_SHAPE = (
    # 0-5: night
    0.5, 0.45, 0.45, 0.45, 0.5, 0.55,
    # 6-11: the morning rises to the best hours
    0.7, 0.9, 1.1, 1.3, 1.3, 1.25,
    # 12-17: lunch, then the afternoon
    1.2, 1.15, 1.1, 1.05, 1.0, 0.95,
    # 18-23: the evening
    0.9, 0.9, 0.85, 0.75, 0.65, 0.55,
)  # fmt: skip
_WORK_WEEK = (1.0, 1.15, 1.15, 1.1, 0.9, 0.55, 0.55)  # Monday first
_ANY_DAY = (1.0, 1.05, 1.05, 1.0, 0.95, 0.85, 0.85)
_DAY_NAMES = ("Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun")


def prior(network: str, weekday: int, hour: int) -> float:
    """What a post at this weekday (0 is Monday) and hour does before any history."""
    week = _WORK_WEEK if network == "linkedin" else _ANY_DAY
    return week[weekday] * _HOUR_SHAPE[hour]


@dataclass(frozen=True)
class Cell:
    estimate: float
    posts: int


@dataclass(frozen=True)
class Hours:
    """One network's 168 (weekday, hour) cells for one workspace."""

    network: str
    cells: dict[tuple[int, int], Cell]
    history: int  # measured posts the cells learned from

    def best(self) -> tuple[int, int]:
        """The best cell; the earliest in the week on a tie."""
        return max(sorted(self.cells), key=lambda cell: self.cells[cell].estimate)


def hours(history: Sequence[TargetFigures], network: str, tz: ZoneInfo) -> Hours:
    """Score every weekday and hour on `network` from the workspace's past targets."""
    mine = [row for row in history if row.network == network and row.measured and not row.gone]
    scale = 1.0
    if mine:
        counts = [row.interactions for row in mine]
        scale = statistics.median(counts) or statistics.mean(counts) or 1.0
    sums: dict[tuple[int, int], float] = defaultdict(float)
    posts: dict[tuple[int, int], int] = defaultdict(int)
    for row in mine:
        local = row.published_at.astimezone(tz)
        cell = (local.weekday(), local.hour)
        sums[cell] += min(row.interactions / scale, CAP)
        posts[cell] += 1
    cells = {
        (day, hour): Cell(
            estimate=(sums[day, hour] + K * prior(network, day, hour)) / (posts[day, hour] + K),
            posts=posts[day, hour],
        )
        for day in range(7)
        for hour in range(24)
    }
    return Hours(network=network, cells=cells, history=len(mine))


@dataclass(frozen=True)
class Slot:
    at: datetime  # UTC
    network: str  # the networks it was chosen for, joined: "linkedin" or "linkedin,x"
    estimate: float
    reason: str  # "Tue 10:00, your best hour on LinkedIn"
    why: str  # the reason without its time: "your best hour on LinkedIn"


def best_slot(
    scored: Hours,
    after: datetime,
    busy: Sequence[datetime],
    tz: ZoneInfo,
    *,
    shown: ZoneInfo | None = None,
) -> Slot | None:
    """The best-scoring whole hour (in `tz`) of the coming week, at least `SLOT_LEAD` after
    `after`, with no post in `busy` on that network within `SLOT_GAP`; the soonest on a tie.
    None only when the whole week is taken. `shown`: the zone the reason names the hour in
    (the person's; `tz` by default)."""
    return shared_slot([scored], after, {scored.network: busy}, tz, shown=shown)


def shared_slot(
    scored: Sequence[Hours],
    after: datetime,
    busy: Mapping[str, Sequence[datetime]],
    tz: ZoneInfo,
    *,
    shown: ZoneInfo | None = None,
) -> Slot | None:
    """One time for a post going to every network in `scored`: the whole hour (in `tz`) of
    the coming week, at least `SLOT_LEAD` after `after`, free on each of them (no post in
    that network's `busy` within `SLOT_GAP`), whose mean estimate over them is best; the
    soonest on a tie. The mean is fair because each network's estimates are relative to its
    own ordinary post (1.0). With one network it is `best_slot`."""
    local = (after + SLOT_LEAD).astimezone(tz)
    start = local.replace(minute=0, second=0, microsecond=0)
    if start < local:
        start += timedelta(hours=1)
    candidates = []
    instant = start.astimezone(UTC)  # step in UTC: local wall-clock steps skip or repeat at DST
    while instant - start < HORIZON:
        if all(is_free(instant, busy.get(hours.network, ())) for hours in scored):
            candidates.append(instant)
        instant += timedelta(hours=1)

    def cell(at: datetime) -> tuple[int, int]:
        there = at.astimezone(tz)
        return there.weekday(), there.hour

    def estimate(at: datetime) -> float:
        return sum(hours.cells[cell(at)].estimate for hours in scored) / len(scored)

    if not candidates:
        return None
    # max() keeps the first of equal estimates, and candidates run soonest first.
    chosen = max(candidates, key=estimate)
    there = chosen.astimezone(shown or tz)
    when = f"{_DAY_NAMES[there.weekday()]} {there:%H:%M}"
    names = [NETWORKS[h.network].display if h.network in NETWORKS else h.network for h in scored]
    phrase = names[0] if len(names) == 1 else ", ".join(names[:-1]) + " and " + names[-1]
    if all(hours.history < MIN_HISTORY for hours in scored):
        why = f"usually a good hour on {phrase} (too few of your posts there to learn from yet)"
    elif all(cell(chosen) == hours.best() for hours in scored):
        why = f"your best hour on {phrase}"
    elif len(scored) == 1:
        why = f"your best free hour on {phrase}"
    else:
        # The networks' best hours differ: the mean decided. Was its best hour taken?
        cells = sorted(scored[0].cells)
        top = max(sum(h.cells[c].estimate for h in scored) / len(scored) for c in cells)
        free = "" if estimate(chosen) >= top else " free"
        why = f"your best{free} hour for {phrase} together"
    return Slot(
        at=chosen,
        network=",".join(hours.network for hours in scored),
        estimate=estimate(chosen),
        reason=f"{when}, {why}",
        why=why,
    )
