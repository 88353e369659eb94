"""The arithmetic of performance summaries, over rows already read: no SQL, no clock, no I/O.

Definitions used everywhere Herald shows a figure:

* **interactions** of a target: likes + reposts + replies + quotes + clicks (clicks count 0
  where the network does not report them).
* **engagement rate**: interactions / impressions, only over targets whose network reports
  impressions (X, LinkedIn, Facebook, the outbox; not Mastodon or Bluesky). For a group of
  targets it is Σ interactions / Σ impressions over those targets, so a post with many
  impressions weighs more than one with few. None when no target in the group has impressions.
* a **post**'s figures are the sum of its targets' (one per network), ranked by interactions,
  then impressions, then the newest number; only posts with figures are ranked.
* **change** against the previous period: (current - previous) / previous, None when the
  previous period had nothing to compare with.
* **Nx your median**: a value over the median of the same figure for the workspace's other
  posts; 2x or more is far above, 0.5x or less far below.
"""

from __future__ import annotations

import statistics
from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from typing import NamedTuple
from zoneinfo import ZoneInfo

FAR_ABOVE = 2.0
FAR_BELOW = 0.5


class TargetFigures(NamedTuple):
    """One published target and its newest snapshot (zeros and `measured=False` before the
    first one arrives). A tuple: `stats 90d` builds tens of thousands of them."""

    target_id: int
    post_number: int
    network: str
    # When it was published, in seconds since the epoch: cheaper than a datetime per row.
    published: int
    impressions: int | None = None
    likes: int = 0
    reposts: int = 0
    replies: int = 0
    quotes: int = 0
    clicks: int | None = None
    gone: bool = False
    measured: bool = True

    @property
    def interactions(self) -> int:
        return self.likes + self.reposts + self.replies + self.quotes + (self.clicks or 0)

    @property
    def published_at(self) -> datetime:
        return datetime.fromtimestamp(self.published, UTC)


@dataclass(frozen=True)
class Totals:
    """The sums over a group of targets (a period, a network, a post)."""

    posts: int = 0
    targets: int = 0
    impressions: int | None = None  # None: no target in the group reports impressions
    likes: int = 0
    reposts: int = 0
    replies: int = 0
    quotes: int = 0
    clicks: int | None = None
    # Interactions of the targets that report impressions: the engagement rate's numerator.
    rated_interactions: int = 0

    @property
    def interactions(self) -> int:
        return self.likes + self.reposts + self.replies + self.quotes + (self.clicks or 0)

    @property
    def engagement_rate(self) -> float | None:
        if not self.impressions:
            return None
        return self.rated_interactions / self.impressions


def _optional_sum(values: Iterable[int | None]) -> int | None:
    known = [v for v in values if v is not None]
    return sum(known) if known else None


def totals(rows: Sequence[TargetFigures]) -> Totals:
    """The definition of every figure, over rows; the database adds up the same way
    (core.analytics.queries), and the tests hold the two together."""
    return Totals(
        posts=len({r.post_number for r in rows}),
        targets=len(rows),
        impressions=_optional_sum(r.impressions for r in rows),
        likes=sum(r.likes for r in rows),
        reposts=sum(r.reposts for r in rows),
        replies=sum(r.replies for r in rows),
        quotes=sum(r.quotes for r in rows),
        clicks=_optional_sum(r.clicks for r in rows),
        rated_interactions=sum(r.interactions for r in rows if r.impressions is not None),
    )


def combined(groups: Iterable[Totals], posts: int) -> Totals:
    """Totals of disjoint groups (`posts`: the distinct posts among them, which the groups'
    own counts cannot tell when a post is in several)."""
    parts = list(groups)
    impressions = [t.impressions for t in parts if t.impressions is not None]
    clicks = [t.clicks for t in parts if t.clicks is not None]
    return Totals(
        posts=posts,
        targets=sum(t.targets for t in parts),
        impressions=sum(impressions) if impressions else None,
        likes=sum(t.likes for t in parts),
        reposts=sum(t.reposts for t in parts),
        replies=sum(t.replies for t in parts),
        quotes=sum(t.quotes for t in parts),
        clicks=sum(clicks) if clicks else None,
        rated_interactions=sum(t.rated_interactions for t in parts),
    )


@dataclass(frozen=True)
class PostFigures:
    """One post over all its networks, with a link per network where it has one."""

    number: int
    totals: Totals
    links: dict[str, str] = field(default_factory=dict)  # filled by queries.with_links
    gone: tuple[str, ...] = ()  # networks where the post was deleted


@dataclass(frozen=True)
class Delta:
    current: float | None
    previous: float | None

    @property
    def ratio(self) -> float | None:
        """(current - previous) / previous; None when there is nothing to compare."""
        if self.current is None or not self.previous:
            return None
        return (self.current - self.previous) / self.previous


@dataclass(frozen=True)
class Change:
    posts: Delta
    impressions: Delta
    interactions: Delta
    engagement_rate: Delta


def change(current: Totals, previous: Totals) -> Change:
    return Change(
        posts=Delta(current.posts, previous.posts),
        impressions=Delta(current.impressions, previous.impressions),
        interactions=Delta(current.interactions, previous.interactions),
        engagement_rate=Delta(current.engagement_rate, previous.engagement_rate),
    )


@dataclass(frozen=True)
class Summary:
    totals: Totals
    by_network: dict[str, Totals]  # most interactions first
    top: list[PostFigures]  # best first
    bottom: list[PostFigures]  # worst first; never a post that is also in `top`
    change: Change
    # Interactions of the posts published each day (in the workspace's zone), per network:
    # what the time-series chart draws. Days without a post are absent.
    daily: dict[str, list[tuple[date, int]]]


def summarize(
    by_network: dict[str, Totals],
    posts: int,
    per_day: dict[tuple[str, int], int],
    top: list[PostFigures],
    bottom: list[PostFigures],
    previous: Totals,
) -> Summary:
    """The `stats` answer from what the database added up for the period: its totals per
    network, its distinct `posts`, interactions per (network, local day as days since
    1970-01-01, see `offsets`), its best and worst posts, and the `previous` period's
    totals."""
    ranked = dict(sorted(by_network.items(), key=lambda kv: (-kv[1].interactions, kv[0])))
    now = combined(ranked.values(), posts)
    return Summary(
        totals=now,
        by_network=ranked,
        top=top,
        bottom=bottom,
        change=change(now, previous),
        daily=daily(per_day),
    )


EPOCH_DAY = date(1970, 1, 1).toordinal()


def daily(per_day: dict[tuple[str, int], int]) -> dict[str, list[tuple[date, int]]]:
    days: dict[str, list[tuple[date, int]]] = defaultdict(list)
    for (network, day), interactions in sorted(per_day.items()):
        days[network].append((date.fromordinal(EPOCH_DAY + day), interactions))
    return dict(sorted(days.items()))


def offsets(start: datetime, end: datetime, tz: ZoneInfo) -> list[tuple[datetime, int]]:
    """`tz`'s offset from UTC in seconds over [start, end): the first offset from `start`,
    then each change (summer time) and the instant it takes effect, to the quarter hour.
    With it the database can tell the local day of an instant, which it cannot do for every
    zone by itself (SQLite knows no zones)."""
    step = timedelta(minutes=15)
    at = start
    found = [(start, _offset(start, tz))]
    while at < end:
        at += step
        offset = _offset(at, tz)
        if offset != found[-1][1]:
            found.append((at, offset))
    return found


def _offset(instant: datetime, tz: ZoneInfo) -> int:
    delta = instant.astimezone(tz).utcoffset()
    return int(delta.total_seconds()) if delta is not None else 0


@dataclass(frozen=True)
class VersusMedian:
    value: float
    median: float | None  # None: no other post to compare with
    ratio: float | None  # value / median; None when the median is missing or zero

    @property
    def verdict(self) -> str | None:
        """ "far above" or "far below" the workspace's median, or None when it is neither."""
        if self.ratio is None:
            return None
        if self.ratio >= FAR_ABOVE:
            return "far above"
        if self.ratio <= FAR_BELOW:
            return "far below"
        return None


def versus_median(value: float, others: Sequence[float]) -> VersusMedian:
    """`value` against the median of `others` (the same figure, same milestone, for the
    workspace's other posts)."""
    if not others:
        return VersusMedian(value, None, None)
    median = float(statistics.median(others))
    return VersusMedian(value, median, value / median if median else None)
