"""The arithmetic of performance summaries, over rows already read: no SQL, no clock, no I/O.

Definitions used everywhere Herald shows a figure:

* **interactions** of a target: likes + reposts + replies + quotes + clicks (clicks count 0
  where the network does not report them).
* **engagement rate**: interactions / impressions, only over targets whose network reports
  impressions (X, LinkedIn, Facebook, the outbox; not Mastodon or Bluesky). For a group of
  targets it is Σ interactions / Σ impressions over those targets, so a post with many
  impressions weighs more than one with few. None when no target in the group has impressions.
* a **post**'s figures are the sum of its targets' (one per network), ranked by interactions.
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
from datetime import date, datetime
from zoneinfo import ZoneInfo

FAR_ABOVE = 2.0
FAR_BELOW = 0.5


@dataclass(frozen=True)
class TargetFigures:
    """One published target and its newest snapshot (zeros and `measured=False` before the
    first one arrives)."""

    target_id: int
    post_number: int
    network: str
    published_at: datetime
    url: str | None = None
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


@dataclass(frozen=True)
class PostFigures:
    """One post over all its networks, with a link per network where it has one."""

    number: int
    totals: Totals
    links: dict[str, str] = field(default_factory=dict)
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


def by_post(rows: Sequence[TargetFigures]) -> list[PostFigures]:
    """The measured posts among `rows`, most interactions first (then most impressions, then
    the newest number)."""
    groups: dict[int, list[TargetFigures]] = defaultdict(list)
    for row in rows:
        if row.measured:
            groups[row.post_number].append(row)
    posts = [
        PostFigures(
            number=number,
            totals=totals(group),
            links={r.network: r.url for r in group if r.url},
            gone=tuple(r.network for r in group if r.gone),
        )
        for number, group in groups.items()
    ]
    posts.sort(key=lambda p: (p.totals.interactions, p.totals.impressions or 0, p.number))
    posts.reverse()
    return posts


def by_network(rows: Sequence[TargetFigures]) -> dict[str, Totals]:
    groups: dict[str, list[TargetFigures]] = defaultdict(list)
    for row in rows:
        groups[row.network].append(row)
    sums = {network: totals(group) for network, group in groups.items()}
    return dict(sorted(sums.items(), key=lambda kv: (-kv[1].interactions, kv[0])))


def daily(rows: Sequence[TargetFigures], tz: ZoneInfo) -> dict[str, list[tuple[date, int]]]:
    days: dict[str, dict[date, int]] = defaultdict(lambda: defaultdict(int))
    for row in rows:
        days[row.network][row.published_at.astimezone(tz).date()] += row.interactions
    return {network: sorted(per_day.items()) for network, per_day in sorted(days.items())}


def change(current: Totals, previous: Totals) -> Change:
    return Change(
        posts=Delta(current.posts, previous.posts),
        impressions=Delta(current.impressions, previous.impressions),
        interactions=Delta(current.interactions, previous.interactions),
        engagement_rate=Delta(current.engagement_rate, previous.engagement_rate),
    )


def summarize(
    rows: Sequence[TargetFigures],
    previous: Sequence[TargetFigures],
    *,
    tz: ZoneInfo,
    best: int = 3,
) -> Summary:
    """The whole `stats` answer for one period: `rows` are its targets, `previous` those of
    the period of the same length just before it."""
    now = totals(rows)
    posts = by_post(rows)
    top = posts[:best]
    bottom = [p for p in reversed(posts) if p not in top][:best]
    return Summary(
        totals=now,
        by_network=by_network(rows),
        top=top,
        bottom=bottom,
        change=change(now, totals(previous)),
        daily=daily(rows, tz),
    )


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
