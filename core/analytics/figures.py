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
from datetime import UTC, date, datetime
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


class _Sums:
    """Running sums for one group, added to one row at a time (one pass over the period)."""

    __slots__ = ("clicked", "clicks", "impressions", "likes", "posts", "quotes", "rated",
                 "replies", "reported", "reposts", "targets")  # fmt: skip

    def __init__(self) -> None:
        self.targets = self.impressions = self.likes = self.reposts = self.replies = 0
        self.quotes = self.clicks = self.rated = 0
        self.reported = self.clicked = False  # whether any row had impressions, clicks
        self.posts: set[int] = set()

    def add(self, row: TargetFigures, interactions: int) -> None:
        self.targets += 1
        self.posts.add(row.post_number)
        self.likes += row.likes
        self.reposts += row.reposts
        self.replies += row.replies
        self.quotes += row.quotes
        if row.clicks is not None:
            self.clicks += row.clicks
            self.clicked = True
        if row.impressions is not None:
            self.impressions += row.impressions
            self.rated += interactions
            self.reported = True

    def totals(self) -> Totals:
        return Totals(
            posts=len(self.posts),
            targets=self.targets,
            impressions=self.impressions if self.reported else None,
            likes=self.likes,
            reposts=self.reposts,
            replies=self.replies,
            quotes=self.quotes,
            clicks=self.clicks if self.clicked else None,
            rated_interactions=self.rated,
        )


def totals(rows: Iterable[TargetFigures]) -> Totals:
    sums = _Sums()
    for row in rows:
        sums.add(row, row.interactions)
    return sums.totals()


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


def by_post(rows: Iterable[TargetFigures]) -> list[PostFigures]:
    """The measured posts among `rows`, most interactions first (then most impressions, then
    the newest number)."""
    groups: dict[int, list[TargetFigures]] = defaultdict(list)
    for row in rows:
        if row.measured:
            groups[row.post_number].append(row)
    return _ranked(groups, list(groups))


def _ranked(groups: dict[int, list[TargetFigures]], numbers: Iterable[int]) -> list[PostFigures]:
    posts = [
        PostFigures(
            number=number,
            totals=totals(groups[number]),
            links={r.network: r.url for r in groups[number] if r.url},
            gone=tuple(r.network for r in groups[number] if r.gone),
        )
        for number in numbers
    ]
    posts.sort(key=_rank, reverse=True)
    return posts


def _rank(post: PostFigures) -> tuple[int, int, int]:
    return post.totals.interactions, post.totals.impressions or 0, post.number


def summarize(
    rows: Sequence[TargetFigures], previous: Totals, *, tz: ZoneInfo, best: int = 3
) -> Summary:
    """The whole `stats` answer for one period from its targets' `rows` (one pass, then one
    more for the few posts shown); `previous`: the totals of the period just before it."""
    networks: dict[str, _Sums] = {}
    ranking: dict[int, list[int]] = {}  # post → [interactions, impressions]
    per_hour: dict[tuple[str, int], int] = defaultdict(int)  # (network, UTC hour) → sum
    for row in rows:
        interactions = row.likes + row.reposts + row.replies + row.quotes + (row.clicks or 0)
        sums = networks.get(row.network)
        if sums is None:
            sums = networks[row.network] = _Sums()
        sums.add(row, interactions)
        per_hour[row.network, row.published // 3600] += interactions
        if row.measured:
            rank = ranking.setdefault(row.post_number, [0, 0])
            rank[0] += interactions
            rank[1] += row.impressions or 0
    by_network = {network: sums.totals() for network, sums in networks.items()}
    by_network = dict(sorted(by_network.items(), key=lambda kv: (-kv[1].interactions, kv[0])))
    everyone = set().union(*(sums.posts for sums in networks.values()))
    now = combined(by_network.values(), len(everyone))
    # Only the few posts shown are built in full; the rest are ranked by two numbers.
    order = sorted(ranking, key=lambda n: (ranking[n][0], ranking[n][1], n), reverse=True)
    shown = order[:best], order[::-1][: min(best, max(0, len(order) - best))]
    wanted = set(shown[0]) | set(shown[1])
    posts: dict[int, list[TargetFigures]] = defaultdict(list)
    for row in rows:
        if row.post_number in wanted and row.measured:
            posts[row.post_number].append(row)
    top = _ranked(posts, shown[0])
    bottom = _ranked(posts, shown[1])[::-1]
    return Summary(
        totals=now,
        by_network=by_network,
        top=top,
        bottom=bottom,
        change=change(now, previous),
        daily=_daily(per_hour, tz),
    )


def _daily(per_hour: dict[tuple[str, int], int], tz: ZoneInfo) -> dict[str, list[tuple[date, int]]]:
    days: dict[str, dict[date, int]] = defaultdict(lambda: defaultdict(int))
    for (network, hour), interactions in per_hour.items():
        local = datetime.fromtimestamp(hour * 3600, tz)
        days[network][local.date()] += interactions
    return {network: sorted(per_day.items()) for network, per_day in sorted(days.items())}


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
