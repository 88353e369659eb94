"""The weekly digest: once a week, at the weekday and hour a workspace chose (`config digest`,
Monday 09:00 by default), what its posts did over the seven days before, against the seven
days before those, with a chart. The `herald.send_digests` beat task runs `send_due`.

Exactly once, however many schedulers run: the `digests_sent` row (unique on the workspace
and the week) and the message are written in one transaction, so whoever inserts second gets
an IntegrityError and says nothing. The figures are read and the chart drawn before that
transaction, so it holds its lock (on SQLite, the whole database's) only for two inserts.

Weeks are the workspace's own: a week starts at local Monday 00:00, the key of its one digest,
and "the seven days before" are seven local days (167 or 169 hours across a change of clocks).

Choices where nothing decided for us:

* On by default: it says something only when the workspace published in the last two weeks,
  in the channel where its cards go, once a week, and ends with how to move or stop it.
* A week with no posts after a week with some gets one short line (the drop is news); two
  quiet weeks say nothing, so a workspace nobody uses is never nagged.
* A digest more than `LATE` late (the schedulers were down) is skipped, and so is one due
  before its setting was changed (or, with no setting, before the workspace existed): a new
  setting never sends a digest for a time already past.
* It goes to the approvals channel when one is set, else where the latest draft was asked
  (as approval cards do); a workspace that never drafted gets none.
"""

from __future__ import annotations

import logging
from collections import defaultdict
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from core.analytics import charts, figures, queries
from core.analytics.figures import Delta, PostFigures, Summary, TargetFigures, Totals
from core.context import Context
from core.messaging.say import say
from core.posts.card import Attachment, Message
from core.timeparse import format_when
from core.workspace.people import zone_of
from storage.models import Post, Workspace
from storage.models_analytics import DigestSent, DigestSetting

log = logging.getLogger(__name__)

LATE = timedelta(hours=24)
SHOWN_POSTS = 10  # posts listed one a line; the rest are counted
DAY_NAMES = ("Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday")


@dataclass(frozen=True)
class Plan:
    """When a workspace's digest goes out, in its zone: `digest_settings`, or the default."""

    enabled: bool = True
    weekday: int = 0  # Monday
    hour: int = 9


DEFAULT = Plan()


def plan_of(session: Session, workspace_id: int) -> Plan:
    return _plan(session.get(DigestSetting, workspace_id))


def _plan(row: DigestSetting | None) -> Plan:
    return DEFAULT if row is None else Plan(row.enabled, row.weekday, row.hour)


def at_hour(day: date, hour: int, tz: ZoneInfo) -> datetime:
    """`day` at `hour`:00 in `tz`, in UTC. An hour the clocks skip is read with the offset
    before the change (02:00 on the spring-forward night is 03:00 summer time); an hour they
    repeat means its first occurrence."""
    return datetime.combine(day, time(hour), tzinfo=tz).astimezone(UTC)


@dataclass(frozen=True)
class Week:
    """One digest's instants, all UTC."""

    day: date  # the local day it goes out
    due: datetime  # the weekday and hour it goes out
    key: datetime  # local Monday 00:00 of that week: its `digests_sent.period_start`
    start: datetime  # it covers [start, due): seven local days
    before: datetime  # and compares them with [before, start)


def last_due(plan: Plan, tz: ZoneInfo, now: datetime) -> Week:
    """The latest time at or before `now` the plan's weekday and hour came round."""
    today = now.astimezone(tz).date()
    day = today - timedelta(days=today.weekday() - plan.weekday)
    if at_hour(day, plan.hour, tz) > now:
        day -= timedelta(days=7)
    monday = day - timedelta(days=day.weekday())
    return Week(
        day=day,
        due=at_hour(day, plan.hour, tz),
        key=at_hour(monday, 0, tz),
        start=at_hour(day - timedelta(days=7), plan.hour, tz),
        before=at_hour(day - timedelta(days=14), plan.hour, tz),
    )


def next_due(plan: Plan, tz: ZoneInfo, now: datetime) -> datetime:
    """The first time after `now` the digest goes out."""
    return at_hour(last_due(plan, tz, now).day + timedelta(days=7), plan.hour, tz)


# --- the job ---------------------------------------------------------------------------------


def send_due(ctx: Context) -> int:
    """Send every digest that is due and not sent yet; how many this call sent."""
    now = ctx.clock.now()
    with ctx.tx() as tx:
        rows = tx.session.execute(
            select(Workspace, DigestSetting)
            .outerjoin(DigestSetting, DigestSetting.workspace_id == Workspace.id)
            .order_by(Workspace.id)
        ).all()
        due = []
        for ws, setting in rows:
            plan = _plan(setting)
            if not plan.enabled:
                continue
            week = last_due(plan, zone_of(None, ws), now)
            since = ws.created_at if setting is None else setting.updated_at
            if since <= week.due and now < week.due + LATE:
                due.append((ws.id, plan, week))
    sent = 0
    for workspace_id, plan, week in due:
        try:
            sent += _send(ctx, workspace_id, plan, week)
        except Exception:  # one workspace's failure must not hold back the others' digests
            log.exception("weekly digest failed for workspace %s", workspace_id)
    return sent


@dataclass(frozen=True)
class Facts:
    """What a digest says, read in one transaction."""

    summary: Summary  # the week
    previous: Totals  # the week before
    targets: list[TargetFigures]  # the week's, one per post and network


def _send(ctx: Context, workspace_id: int, plan: Plan, week: Week) -> int:
    with ctx.tx() as tx:
        if _sent(tx.session, workspace_id, week.key):
            return 0
        ws = tx.session.get_one(Workspace, workspace_id)
        tz = zone_of(None, ws)
        conversation = where(tx.session, ws)
        facts = read(tx.session, workspace_id, week, tz)
        now = tx.now
    if conversation is None:
        return 0
    message = compose(facts, week, plan, tz, now)
    if message is None:
        return 0
    try:
        with ctx.tx() as tx:
            tx.session.add(
                DigestSent(workspace_id=workspace_id, period_start=week.key, sent_at=tx.now)
            )
            tx.session.flush()  # the unique key decides who sends it; the loser waits here
            say(tx, tx.session.get_one(Workspace, workspace_id), message, conversation=conversation)
    except IntegrityError:
        return 0  # another scheduler sent it
    return 1


def _sent(session: Session, workspace_id: int, key: datetime) -> bool:
    found = session.scalar(
        select(DigestSent.id).where(
            DigestSent.workspace_id == workspace_id, DigestSent.period_start == key
        )
    )
    return found is not None


def where(session: Session, ws: Workspace) -> str | None:
    """The conversation a digest goes to: the approvals channel when one is set, else where
    the latest draft was asked; None for a workspace that never drafted."""
    channel = ws.settings.get("approvals_channel")
    if channel:
        return str(channel)
    return session.scalar(
        select(Post.conversation)
        .where(Post.workspace_id == ws.id, Post.conversation != "")
        .order_by(Post.id.desc())
        .limit(1)
    )


def read(session: Session, workspace_id: int, week: Week, tz: ZoneInfo) -> Facts:
    return Facts(
        summary=queries.summary(session, workspace_id, week.start, week.due, tz=tz, best=1),
        # The week before in local days, not `summary`'s period of the same length: across a
        # change of clocks the two differ by an hour.
        previous=queries.period_totals(session, workspace_id, week.before, week.start),
        targets=queries.published(session, workspace_id, week.start, week.due),
    )


# --- the message -----------------------------------------------------------------------------


def compose(facts: Facts, week: Week, plan: Plan, tz: ZoneInfo, now: datetime) -> Message | None:
    """The digest as a message with its chart; None when there is nothing worth saying."""
    totals, previous = facts.summary.totals, facts.previous
    title = f"📊 Weekly digest · the 7 days to {format_when(week.due, tz, now=now)}"
    footer = (
        f"Every {DAY_NAMES[plan.weekday]} at {plan.hour:02d}:00 {tz.key}. "
        "Change it: config digest <day> <hour> · config digest off"
    )
    if totals.posts == 0:
        if previous.posts == 0:
            return None
        return Message(
            text="\n".join(
                [
                    title,
                    f"Nothing was published ({_count(previous.posts, 'post')} the week before). "
                    "Plan the next one at your best hour: draft <brief> --at best",
                    footer,
                ]
            )
        )
    lines = [title, _totals_line(totals, facts.summary.by_network), _change_line(totals, previous)]
    top = facts.summary.top
    lines.append(
        _best_line(top[0])
        if top
        else "No figures yet: they arrive 1 h, 24 h and 7 days after each post goes out."
    )
    if len(facts.summary.by_network) > 1:
        lines.append(
            "By network: "
            + " · ".join(
                f"{charts.label(network)} {part.interactions:,} interactions"
                for network, part in facts.summary.by_network.items()
            )
        )
    lines.append("Posts:")
    lines.extend(_post_lines(facts.targets, tz))
    lines.append(footer)
    return Message(text="\n".join(lines), files=(chart(facts.summary, week, tz),))


def chart(summary: Summary, week: Week, tz: ZoneInfo) -> Attachment:
    """Interactions per day and per network over the week, as a PNG."""
    label = _day_label(week.due.astimezone(tz))
    figure = charts.plot(
        summary.daily,
        {network: float(part.interactions) for network, part in summary.by_network.items()},
        title=f"Your week to {label}",
        days=(
            week.start.astimezone(tz).date(),
            (week.due - timedelta(microseconds=1)).astimezone(tz).date(),
        ),
    )
    return Attachment(
        name=f"herald-digest-{week.day.isoformat()}.png",
        mime="image/png",
        data=charts.png(figure),
        title=f"Interactions over the 7 days to {label}",
    )


def _totals_line(totals: Totals, by_network: dict[str, Totals]) -> str:
    names = [charts.label(network) for network in sorted(by_network)]
    phrase = names[0] if len(names) == 1 else ", ".join(names[:-1]) + " and " + names[-1]
    parts = [f"{_count(totals.posts, 'post')} on {phrase}"]
    if totals.impressions is not None:
        parts.append(f"{totals.impressions:,} impressions")
    parts.append(f"{totals.interactions:,} interactions")
    if totals.engagement_rate is not None:
        parts.append(f"{_percent(totals.engagement_rate)} engagement")
    return " · ".join(parts)


def _change_line(now: Totals, before: Totals) -> str:
    if before.posts == 0:
        return "The week before had no posts to compare with."
    change = figures.change(now, before)
    parts = [f"posts {now.posts:,} (was {before.posts:,})"]
    for name, delta in (("impressions", change.impressions), ("interactions", change.interactions)):
        moved = _moved(name, delta)
        if moved:
            parts.append(moved)
    rate = change.engagement_rate
    if rate.current is not None and rate.previous is not None:
        parts.append(f"engagement {_percent(rate.current)} (was {_percent(rate.previous)})")
    return "Against the week before: " + " · ".join(parts)


def _moved(name: str, delta: Delta) -> str | None:
    if delta.ratio is not None:
        return f"{name} {delta.ratio * 100:+.0f} %"
    if delta.current is None or delta.previous is None:
        return None  # not reported in one of the weeks: nothing to compare
    return f"{name} {delta.current:,.0f} (was {delta.previous:,.0f})"


def _best_line(post: PostFigures) -> str:
    parts = [f"🏆 Best post: #{post.number}", f"{post.totals.interactions:,} interactions"]
    if post.totals.impressions is not None:
        parts.append(f"{post.totals.impressions:,} impressions")
    parts.extend(f"{charts.label(network)}: {url}" for network, url in post.links.items())
    return " · ".join(parts)


def _post_lines(targets: list[TargetFigures], tz: ZoneInfo) -> list[str]:
    posts: dict[int, list[TargetFigures]] = defaultdict(list)
    for row in targets:
        posts[row.post_number].append(row)
    lines = []
    for number in sorted(posts)[:SHOWN_POSTS]:
        rows = posts[number]
        first = min(row.published for row in rows)
        head = (
            f"#{number} · {_day_label(datetime.fromtimestamp(first, UTC).astimezone(tz))} · "
            + ", ".join(charts.label(row.network) for row in rows)
        )
        measured = [row for row in rows if row.measured]
        if not measured:
            lines.append(f"{head} · no figures yet")
            continue
        totals = figures.totals(measured)
        seen = f" · {totals.impressions:,} impressions" if totals.impressions is not None else ""
        lines.append(f"{head}{seen} · {totals.interactions:,} interactions")
    if len(posts) > SHOWN_POSTS:
        lines.append(f"… and {len(posts) - SHOWN_POSTS:,} more: stats 7d")
    return lines


def _day_label(local: datetime) -> str:
    return f"{local:%a} {local.day} {local:%b}"


def _count(n: int, noun: str) -> str:
    return f"{n:,} {noun}" + ("" if n == 1 else "s")


def _percent(rate: float) -> str:
    return f"{rate * 100:.1f} %"
