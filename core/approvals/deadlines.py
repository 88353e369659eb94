"""Approval deadlines: a pending post with a planned time gets a reminder to its approvers, then
an escalation to the admins and owners, and if still unapproved at its time it expires instead
of going out. `reschedule <n> [when]` brings it back.

Each is sent once per planned time, however many ticks run: the tick locks the posts it looks
at (SKIP LOCKED; SQLite writers take turns) and marks the post in the same conditional UPDATE
that decides, in the transaction that writes the message.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import or_, select, true, update
from sqlalchemy.orm import selectinload

from core.context import Context, Tx, run_tx
from core.durations import span_text
from core.errors import Conflict
from core.grammar import Words, mention, unquote
from core.messaging.say import notify
from core.permissions import Action
from core.posts.card import Message, build_card
from core.posts.lifecycle import move
from core.publishing import pause
from core.registry import Request, Spec
from core.scheduling.commands import Schedule, schedule
from core.timeparse import format_when
from core.workspace.people import find_post, zone_of
from storage.models import Member, Post, PostState, Role, SurfaceKind, TargetState, Workspace

P, T = PostState, TargetState
REMINDER = timedelta(hours=2)
ESCALATION = timedelta(minutes=30)
LONGEST_LEAD = timedelta(days=7)
# Posts looked at per tick: a backlog is worked off over a few ticks.
BATCH = 200
_APPROVERS = (Role.OWNER, Role.ADMIN, Role.APPROVER)
_ADMINS = (Role.OWNER, Role.ADMIN)


def leads(ws: Workspace) -> tuple[timedelta | None, timedelta | None]:
    """The workspace's reminder and escalation lead times (None: off)."""
    settings = ws.settings or {}

    def read(key: str, default: timedelta) -> timedelta | None:
        minutes = settings.get(key)
        if minutes is None:
            return default
        return timedelta(minutes=int(minutes)) if int(minutes) > 0 else None

    return read("reminder_minutes", REMINDER), read("escalate_minutes", ESCALATION)


def describe(ws: Workspace) -> str:
    remind, escalate = leads(ws)
    r = f"{span_text(remind)} before" if remind else "off"
    e = f"{span_text(escalate)} before" if escalate else "off"
    return f"reminder: {r} · escalation: {e}"


@dataclass
class Tick:
    reminded: int = 0
    escalated: int = 0
    expired: int = 0
    resumed: int = 0


def watch(ctx: Context) -> dict[str, int]:
    """The deadlines tick: reminders, escalations, expiries, and timed pauses that ran out."""
    tick = Tick()
    after: tuple[datetime, int] | None = None
    while True:
        # Batch after batch, each past the last post of the one before: the posts a batch
        # found nothing due for yet are not read again in this tick.
        after = run_tx(ctx, functools.partial(_batch, tick=tick, after=after))
        if after is None:
            break
    tick.resumed = pause.lift_due(ctx)
    return vars(tick)


def _batch(tx: Tx, tick: Tick, after: tuple[datetime, int] | None) -> tuple[datetime, int] | None:
    """One batch of the posts that may have something due, locked; the key to go on from
    when the batch was full."""
    now = tx.now
    later = (
        or_(Post.planned_at > after[0], (Post.planned_at == after[0]) & (Post.id > after[1]))
        if after
        else true()
    )
    posts = tx.session.scalars(
        select(Post)
        .where(
            later,
            Post.state == P.PENDING_APPROVAL,
            Post.planned_at.is_not(None),
            Post.planned_at <= now + LONGEST_LEAD,
            or_(
                Post.planned_at <= now,
                Post.reminded_for.is_distinct_from(Post.planned_at),
                Post.escalated_for.is_distinct_from(Post.planned_at),
            ),
        )
        .order_by(Post.planned_at, Post.id)
        .limit(BATCH)
        .with_for_update(skip_locked=True, of=Post)
        .options(selectinload(Post.targets))
    ).all()
    for post in posts:
        _decide(tx, post, tick)
    if len(posts) < BATCH:
        return None
    last = posts[-1]
    assert last.planned_at is not None
    return last.planned_at, last.id


def _mark(tx: Tx, post: Post, column: str) -> bool:
    """Mark the post as told for its planned time; False if another tick did first."""
    col = getattr(Post, column)
    done = tx.session.connection().execute(
        update(Post)
        .where(
            Post.id == post.id,
            Post.state == P.PENDING_APPROVAL,
            Post.planned_at == post.planned_at,
            col.is_distinct_from(Post.planned_at),
        )
        .values({column: post.planned_at, "reminded_for": post.planned_at})
    )
    return bool(done.rowcount == 1)


def _decide(tx: Tx, post: Post, tick: Tick) -> None:
    """The one thing due for this post now: its expiry, else its escalation, else its
    reminder (a post drafted 20 minutes before its time gets the escalation alone)."""
    ws = post.workspace
    at = post.planned_at
    assert at is not None
    remind, escalate = leads(ws)
    tz = zone_of(None, ws)
    when = format_when(at, tz, now=tx.now)
    if at <= tx.now:
        tick.expired += _expire(tx, post, when, tz)
    elif escalate and at - escalate <= tx.now and post.escalated_for != at:
        who = _mentions(tx, ws, _ADMINS, post)
        text = (
            f"🚨 #{post.number} goes out {when} and still has no approval. "
            f"{who}: approve {post.number} or reject {post.number}, or it will not be "
            "published."
        )
        tick.escalated += _tell_once(tx, post, "escalated_for", text)
    elif remind and at - remind <= tx.now and post.reminded_for != at:
        who = _mentions(tx, ws, _APPROVERS, post)
        text = (
            f"⏰ #{post.number} is planned for {when} and still needs approval. "
            f"{who}: approve {post.number} or reject {post.number} <reason>."
        )
        tick.reminded += _tell_once(tx, post, "reminded_for", text)


def _tell_once(tx: Tx, post: Post, mark: str, text: str) -> bool:
    if not _mark(tx, post, mark):
        return False
    notify(tx, post, Message(text=text, post_number=post.number))
    return True


def _expire(tx: Tx, post: Post, when: str, tz: ZoneInfo) -> bool:
    problem = f"Not approved by its planned time, {when}, so it was not published"
    if not move(tx.session, post, "expire", now=tx.now, problem=problem):
        return False
    text = (
        f"⌛ #{post.number} was not approved by {when}, so it was not published. "
        f"Reschedule it: reschedule {post.number} <when>, or the button picks a good time."
    )
    card = build_card(post, tz=tz, now=tx.now, status=f"⌛ {problem}")
    notify(tx, post, Message(text=text, card=card, post_number=post.number))
    return True


def _mentions(tx: Tx, ws: Workspace, roles: tuple[Role, ...], post: Post) -> str:
    """Who to call, as the surface mentions people: the drafter is left out where they may
    not approve their own post."""
    people = tx.session.scalars(
        select(Member)
        .where(Member.workspace_id == ws.id, Member.role.in_(roles))
        .order_by(Member.id)
    ).all()
    if not ws.self_approval:
        people = [m for m in people if m.id != post.author_id] or list(people)
    if not people:
        return "Approvers"
    if ws.kind == SurfaceKind.SLACK:
        return " ".join(mention(m.external_id) for m in people)
    return " ".join(f"@{m.display_name}" for m in people)


@dataclass(frozen=True)
class Reschedule:
    number: int
    when: str | None = None


def parse_reschedule(words: Words) -> Reschedule:
    number = words.number()
    return Reschedule(number=number, when=unquote(words.after_first()) or None)


def reschedule(r: Request, cmd: Reschedule) -> Message:
    """An expired post back for approval at a new time, or a post held by a pause at one
    (without a time: the best free hour, as `schedule <n> best`)."""
    tx, ws, me = r.tx, r.ws, r.me
    post = find_post(tx, ws, cmd.number, lock=True)
    held = [t for t in post.targets if t.state == T.DRAFT] if post.state == P.APPROVED else []
    if post.state == P.EXPIRED:
        move(tx.session, post, "renew", now=tx.now, actor_id=me.id, problem=None)
    elif held:
        for target in held:  # back on the schedule; `schedule` below moves them to the time
            move(
                tx.session,
                target,
                "schedule",
                now=tx.now,
                workspace_id=ws.id,
                actor_id=me.id,
                scheduled_at=tx.now + LONGEST_LEAD,
            )
    else:
        raise Conflict(
            f"#{cmd.number} has not expired and is not held, so there is nothing to reschedule. "
            f"To move it: schedule {cmd.number} <when>"
        )
    return schedule(r, Schedule(number=cmd.number, when=cmd.when or "best"))


COMMANDS: tuple[Spec[Any], ...] = (
    Spec(
        name="reschedule",
        kind=Reschedule,
        usage="reschedule <n> [when]",
        summary="new time for an expired or held post",
        detail="An expired post goes back for approval at the new time; without a time, the "
        "best free hour of the coming week.",
        parse=parse_reschedule,
        handle=reschedule,
        permission=Action.SCHEDULE,
    ),
)
