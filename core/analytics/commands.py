"""What people ask of analytics: `stats` for a period (totals, each network, the best and
worst posts, the change against the period before, a chart), `stats <n>` for one post over
time (asking its networks for fresh figures), `stats export` as a CSV file.

Periods and their limits: core.analytics.periods. The chart is the costly part of an answer
(a few hundred milliseconds of CPU, bench/stats.py): each person gets `chart_rate_limit` charts
a minute on Slack and Telegram, and past that the answer comes without its chart, saying when
to ask again. The terminal is the operator's own machine, unlimited like its commands.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any
from zoneinfo import ZoneInfo

from sqlalchemy import select

from core.analytics import charts, export, periods, queries, schedule
from core.analytics.figures import Delta, PostFigures, Summary, Totals
from core.analytics.periods import Period, Window
from core.errors import BadInput, Conflict
from core.grammar import Words
from core.jobs import Job
from core.networks import get_network
from core.posts.card import Attachment, Message, cut, networks_phrase
from core.ratelimit import over_limit
from core.registry import Request, Spec
from core.timeparse import format_when
from core.workspace.people import find_post, zone_of
from storage.models import SurfaceKind, Target, TargetState
from storage.models_analytics import LatestFigures, Milestone

if TYPE_CHECKING:
    from matplotlib.figure import Figure

CHART_WINDOW_SECONDS = 60.0
EPSILON = timedelta(microseconds=1)
MILESTONE_WORDS = {
    Milestone.HOUR: "1 h",
    Milestone.DAY: "24 h",
    Milestone.WEEK: "7 d",
    Milestone.DEMAND: "on request",
}
NOT_YET = "No figures yet: Herald reads them about 1 h, 24 h and 7 days after a post goes out."
_POST = re.compile(r"#?(\d{1,9})")


@dataclass(frozen=True)
class Stats:
    """`stats [period] [network]`, `stats <n>` (`number`) or `stats export [period] [network]`."""

    period: Period = field(default_factory=Period)
    network: str | None = None
    number: int | None = None
    export: bool = False


def parse_stats(words: Words) -> Stats:
    args = words.args
    if not args:
        return Stats()
    head = args[0].lower()
    if head == "export":
        period, network = periods.parse(words, args[1:])
        return Stats(period=period, network=network, export=True)
    post = _POST.fullmatch(head)
    if post:
        number = int(post.group(1))
        if len(args) > 1:
            rest = " ".join(args[1:])
            raise BadInput(
                f'stats {head} shows post #{number} on all its networks; leave out "{rest}". '
                f"For a period, say {number}d: stats {number}d {rest}"
            )
        return Stats(number=number)
    period, network = periods.parse(words, args)
    return Stats(period=period, network=network)


# --- words and numbers ----------------------------------------------------------------------


def _count(n: int, thing: str, things: str | None = None) -> str:
    return f"{n:,} {thing if n == 1 else things or thing + 's'}"


def _percent(rate: float) -> str:
    return f"{rate * 100:.1f} %"


def _change(delta: Delta) -> str:
    ratio = delta.ratio
    if ratio is None:
        return ""
    rounded = round(ratio * 100)
    return " (±0 %)" if rounded == 0 else f" ({rounded:+,} %)"


def figures_line(totals: Totals, *, posts: bool = True) -> str:
    """E.g. "4 posts · 3,500 impressions · 137 interactions · 3.7 % engagement"."""
    parts = [_count(totals.posts, "post")] if posts else []
    if totals.impressions is not None:
        parts.append(_count(totals.impressions, "impression"))
    parts.append(_count(totals.interactions, "interaction"))
    if totals.engagement_rate is not None:
        parts.append(f"{_percent(totals.engagement_rate)} engagement")
    return " · ".join(parts)


def kinds_line(totals: Totals) -> str:
    """What the interactions are: "106 likes · 10 reposts · 9 replies · 2 quotes · 10 clicks"."""
    parts = [
        _count(totals.likes, "like"),
        _count(totals.reposts, "repost"),
        _count(totals.replies, "reply", "replies"),
        _count(totals.quotes, "quote"),
    ]
    if totals.clicks is not None:
        parts.append(_count(totals.clicks, "click"))
    return " · ".join(parts)


def _against(summary: Summary, before: str) -> str:
    change = summary.change
    if not change.posts.previous:
        return f"Against {before}: nothing was published then."
    t = summary.totals
    parts = [f"posts {t.posts:,}{_change(change.posts)}"]
    if t.impressions is not None:
        parts.append(f"impressions {t.impressions:,}{_change(change.impressions)}")
    parts.append(f"interactions {t.interactions:,}{_change(change.interactions)}")
    rate = change.engagement_rate
    if rate.current is not None:
        was = f" (was {_percent(rate.previous)})" if rate.previous is not None else ""
        parts.append(f"engagement {_percent(rate.current)}{was}")
    return f"Against {before}: " + " · ".join(parts)


def _post_lines(rank: int, post: PostFigures, network: str | None) -> list[str]:
    """A ranked post and its links (only the asked network's when one is named)."""
    line = f"{rank}. #{post.number} · {figures_line(post.totals, posts=False)}"
    gone = [n for n in post.gone if network in (None, n)]
    if gone:
        line += f" · deleted on {networks_phrase(gone)}"
    links = " · ".join(
        f"{get_network(n).display}: {url}" for n, url in post.links.items() if network in (None, n)
    )
    return [line, f"   {links}"] if links else [line]


def period_text(
    summary: Summary, span: Window, network: str | None, tz: ZoneInfo, now: datetime
) -> str:
    where = f" on {get_network(network).display}" if network else ""
    t = summary.totals
    if t.targets == 0:
        longer = " Try a longer period, e.g. stats 90d." if span.days < 90 else ""
        return (
            f"Nothing was published{where} {span.during}, so there are no figures.{longer}\n"
            + span.span(tz, now)
        )
    lines = [
        f"📈 Your posts{where} {span.during}",
        span.span(tz, now),
        figures_line(t),
        f"Interactions: {kinds_line(t)}",
        _against(summary, span.before),
    ]
    if len(summary.by_network) > 1:
        lines += ["", "By network:"]
        for name, totals in summary.by_network.items():
            shown = figures_line(totals)
            if totals.impressions is None:
                shown += " · no impressions reported"
            lines.append(f"• {get_network(name).display}: {shown}")
    for heading, ranked in (("Top posts:", summary.top), ("Bottom posts:", summary.bottom)):
        if ranked:
            lines += ["", heading]
            for rank, post in enumerate(ranked, 1):
                lines += _post_lines(rank, post, network)
    if not summary.top:
        lines += ["", NOT_YET]
    blind = [n for n, totals in summary.by_network.items() if totals.impressions is None]
    if blind and t.engagement_rate is not None:
        lines += [
            "",
            f"{networks_phrase(blind)} report no impressions: engagement (interactions per "
            "impression) counts the other networks.",
        ]
    return "\n".join(lines)


# --- charts ---------------------------------------------------------------------------------


def period_chart(summary: Summary, title: str, span: Window, tz: ZoneInfo) -> Figure:
    """The chart of `stats <period>`: interactions by day (of the posts published that day,
    in the person's zone) per network, over every day of the period, and per network over
    the period."""
    series = {
        network: [(day, float(value)) for day, value in points]
        for network, points in summary.daily.items()
    }
    bars = {network: float(t.interactions) for network, t in summary.by_network.items()}
    # The end is an open bound: the last day is the one its instant just before falls on.
    days = (span.start.astimezone(tz).date(), (span.end - EPSILON).astimezone(tz).date())
    return charts.plot(series, bars, title=title, days=days)


def post_chart(number: int, points: Sequence[queries.Point], tz: ZoneInfo) -> Figure:
    """The chart of `stats <n>`: each network's interactions at each snapshot, at the time it
    was taken in the person's zone (the axis is labelled with it), and each one's latest."""
    series: dict[str, list[tuple[datetime, float]]] = {}
    latest: dict[str, float] = {}
    for point in points:
        local = point.taken_at.astimezone(tz).replace(tzinfo=None)
        series.setdefault(point.network, []).append((local, float(point.interactions)))
        latest[point.network] = float(point.interactions)
    return charts.plot(
        series,
        latest,
        title=f"#{number} since it went out",
        series_title=f"Interactions ({tz.key} time)",
        bars_title="Interactions by network, latest",
    )


def _with_chart(
    r: Request, text: str, name: str, title: str, draw: Callable[[], Figure]
) -> Message:
    """`text` with the chart `draw` makes, unless this person has had their charts for the
    minute: then the text alone, saying when the next chart can come."""
    limit = r.ctx.settings.chart_rate_limit
    if r.actor.surface != SurfaceKind.TERMINAL:
        key = f"chart:{r.actor.surface.value}:{r.ws.id}:{r.me.id}"
        wait = over_limit(r.ctx.limits, key, limit, CHART_WINDOW_SECONDS)
        if wait is not None:
            return Message(
                text=f"{text}\n\nNo chart this time: {_count(limit, 'chart')} a minute at most. "
                f"Ask again in {wait:.0f} s for one."
            )
    data = charts.png(draw())
    return Message(text=text, files=(Attachment(name, "image/png", data, title),))


# --- the handler ----------------------------------------------------------------------------


def stats(r: Request, cmd: Stats) -> Message:
    if cmd.number is not None:
        return post_stats(r, cmd.number)
    tz = zone_of(r.me, r.ws)
    span = periods.window(cmd.period, tz, r.tx.now)
    if cmd.export:
        return export_stats(r, span, cmd.network, tz)
    return period_stats(r, span, cmd.network, tz)


def period_stats(
    r: Request, span: Window, network: str | None, tz: ZoneInfo, *, chart: bool = True
) -> Message:
    """`stats <period>`: the text, and the chart unless `chart` is False (bench/stats.py
    times both)."""
    summary = queries.summary(r.tx.session, r.ws.id, span.start, span.end, tz=tz, network=network)
    text = period_text(summary, span, network, tz, r.tx.now)
    if not summary.top or not chart:  # nothing measured: nothing to draw
        return Message(text=text)
    title = span.title + (f" · {get_network(network).display}" if network else "")
    return _with_chart(
        r,
        text,
        f"herald-stats-{span.slug}{f'-{network}' if network else ''}.png",
        f"{title}: interactions by day and by network",
        lambda: period_chart(summary, title, span, tz),
    )


def export_stats(r: Request, span: Window, network: str | None, tz: ZoneInfo) -> Message:
    rows = export.rows(r.tx.session, r.ws.id, span.start, span.end, network=network)
    where = f" on {get_network(network).display}" if network else ""
    if not rows:
        return Message(
            text=f"Nothing was published{where} {span.during}, so there is nothing to export.\n"
            + span.span(tz, r.tx.now)
        )
    posts = len({row.post for row in rows})
    text = (
        f"📄 Your posts{where} {span.during}, as CSV: {_count(len(rows), 'row')}, one per "
        f"network of each of {_count(posts, 'post')}. Times in the file are UTC.\n"
        + span.span(tz, r.tx.now)
    )
    return Message(
        text=text,
        files=(
            Attachment(
                f"herald-stats-{span.slug}{f'-{network}' if network else ''}.csv",
                "text/csv",
                export.to_csv(rows),
                f"Herald stats{where}, {span.title} (CSV)",
            ),
        ),
    )


def post_stats(r: Request, number: int) -> Message:
    """`stats <n>`: each network's figures over time; fresh ones are asked for now."""
    tx, tz = r.tx, zone_of(r.me, r.ws)
    post = find_post(tx, r.ws, number)
    out = [t for t in post.targets if t.state == TargetState.PUBLISHED]
    if not out:
        raise Conflict(
            f"#{number} has not been published yet, so it has no figures. "
            f"See where it is: show {number}"
        )
    latest = {
        row.target_id: row
        for row in tx.session.scalars(
            select(LatestFigures).where(LatestFigures.target_id.in_([t.id for t in out]))
        )
    }
    points = queries.post_history(tx.session, post.id)
    lines = [f"📈 #{number} · {cut(post.brief, 80)}"]
    for target in out:
        lines += ["", *_target_lines(target, latest.get(target.id), points, tz, tx.now)]
    waiting = [
        t.network
        for t in post.targets
        if t.state not in (TargetState.PUBLISHED, TargetState.CANCELLED)
    ]
    if waiting:
        lines += ["", f"Not published yet on {networks_phrase(waiting)}."]
    # A post deleted on its network has nothing more to read (its last figures stay).
    asked = [t for t in out if not (t.id in latest and latest[t.id].gone)]
    schedule.ask(tx.session, [t.id for t in asked], tx.now)
    lines.append("")
    if asked:
        # A tick now, not at the next beat: the figures are usually in before the person has
        # read this. A tick with nothing due claims nothing, so asking often costs little.
        tx.later(Job.COLLECT)
        lines.append(
            f"Asked {networks_phrase([t.network for t in asked])} for fresh figures just now; "
            f"they usually come in within a minute. Type stats {number} again to see them."
        )
    else:
        lines.append("Deleted on every network, so there is nothing new to ask for.")
    text = "\n".join(lines)
    if not points:
        return Message(text=text)
    return _with_chart(
        r,
        text,
        f"herald-stats-post-{number}.png",
        f"#{number}: interactions since it went out",
        lambda: post_chart(number, points, tz),
    )


def _target_lines(
    target: Target,
    current: LatestFigures | None,
    points: Sequence[queries.Point],
    tz: ZoneInfo,
    now: datetime,
) -> list[str]:
    name = get_network(target.network).display
    lines = [f"{name} · published {format_when(target.published_at or now, tz, now=now)}"]
    if target.external_url:
        lines.append(target.external_url)
    mine = [p for p in points if p.network == target.network]
    if current is None or current.taken_at is None or not mine:
        return [*lines, NOT_YET]
    # The scheduled readings and the newest one asked for; the chart has every one.
    asked = [p for p in mine if p.milestone == Milestone.DEMAND]
    shown = [p for p in mine if p.milestone != Milestone.DEMAND or p is asked[-1]]
    for point in shown:
        seen = (
            f"{point.impressions:,} impression{'' if point.impressions == 1 else 's'} · "
            if point.impressions is not None
            else ""
        )
        interactions = _count(point.interactions, "interaction")
        lines.append(
            f"  {MILESTONE_WORDS[point.milestone]}: {seen}{interactions}"
            f" · {format_when(point.taken_at, tz, now=now)}"
        )
    if len(shown) < len(mine):
        lines.append(f"  (and {_count(len(mine) - len(shown), 'earlier reading')} on request)")
    c = current
    total = c.likes + c.reposts + c.replies + c.quotes + (c.clicks or 0)
    totals = Totals(
        posts=1,
        targets=1,
        impressions=c.impressions,
        likes=c.likes,
        reposts=c.reposts,
        replies=c.replies,
        quotes=c.quotes,
        clicks=c.clicks,
        rated_interactions=total if c.impressions is not None else 0,
    )
    lines += [f"  Latest: {figures_line(totals, posts=False)}", f"  {kinds_line(totals)}"]
    if c.gone:
        lines.append(f"  Deleted on {name}: these are the last figures it had.")
    return lines


COMMANDS: tuple[Spec[Any], ...] = (
    Spec(
        name="stats",
        kind=Stats,
        usage=(
            "stats [7d|30d|90d|<from> <to>] [network] · stats <n> · stats export [period] [network]"
        ),
        summary="how posts did, with a chart",
        detail=(
            "A period is the last N days (7d unless you say) or two dates, YYYY-MM-DD, up to "
            "a year. stats <n> shows one post over time and asks its networks for fresh "
            "figures. export sends a CSV file."
        ),
        parse=parse_stats,
        handle=stats,
        menu=True,
    ),
)
