"""What people ask of publishing as a whole: pause and resume it, and publish a held post now."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from core.durations import parse_span
from core.errors import BadInput, Conflict
from core.grammar import Words, numbered
from core.jobs import Job
from core.permissions import Action
from core.posts.card import Message, networks_phrase
from core.posts.lifecycle import move
from core.publishing import pause
from core.registry import Request, Spec
from core.workspace.people import find_post, zone_of
from storage.models import PostState, TargetState

P, T = PostState, TargetState
MAX_REASON = 300
LONGEST_PAUSE = timedelta(days=30)


@dataclass(frozen=True)
class PauseAll:
    span: timedelta | None = None
    reason: str | None = None


@dataclass(frozen=True)
class Resume:
    pass


@dataclass(frozen=True)
class PublishNow:
    number: int


def parse_pause(words: Words) -> PauseAll:
    first = words.first()
    span = parse_span(first) if first else None
    reason = (words.after_first() if span is not None else words.rest).strip() or None
    if span is not None and not timedelta(minutes=1) <= span <= LONGEST_PAUSE:
        raise words.fail("A pause lasts from 1 minute to 30 days, e.g. pause 2h, or no length.")
    if reason and len(reason) > MAX_REASON:
        raise BadInput(f"Keep the reason under {MAX_REASON} characters.")
    return PauseAll(span=span, reason=reason)


def pause_all(r: Request, cmd: PauseAll) -> Message:
    tx, ws, me = r.tx, r.ws, r.me
    tz = zone_of(me, ws)
    current = pause.active(tx.session, ws.id, tx.now)
    if current is not None:
        raise Conflict(f"{pause.describe(current, tz, tx.now)} Type resume to lift it first.")
    until = tx.now + cmd.span if cmd.span else None
    started = pause.start(
        tx,
        ws,
        by_name=f"@{me.display_name}",
        by_id=me.id,
        until=until,
        reason=cmd.reason,
        conversation=r.actor.conversation,
    )
    sooner = " sooner" if until else ""
    return Message(
        text=f"{pause.describe(started, tz, tx.now)} Nothing goes out, not even posts already "
        f"queued; type resume to lift it{sooner}."
    )


def resume(r: Request, _: Resume) -> Message:
    tx, ws, me = r.tx, r.ws, r.me
    tz = zone_of(me, ws)
    current = pause.active(tx.session, ws.id, tx.now)
    if current is None:
        raise Conflict("Publishing is not paused here; nothing to resume.")
    if current.workspace_id is None:
        raise Conflict(
            f"{pause.describe(current, tz, tx.now)} That is the operator's switch for every "
            "workspace; ask them to run: herald resume --all"
        )
    pause.end(
        tx,
        current,
        by_id=me.id,
        by_name=f"@{me.display_name}",
        timed_out=False,
        said_in=r.actor.conversation,
    )
    still = pause.active(tx.session, ws.id, tx.now)
    if still is not None:
        return Message(text=f"Your pause is lifted, but {pause.describe(still, tz, tx.now)}")
    return Message(text=f"▶ Publishing resumed by @{me.display_name}.")


def publish_now(r: Request, cmd: PublishNow) -> Message:
    """A post held after a pause (its time passed during it) goes out now."""
    tx, ws, me = r.tx, r.ws, r.me
    post = find_post(tx, ws, cmd.number, lock=True)
    held = [t for t in post.targets if t.state == T.DRAFT] if post.state == P.APPROVED else []
    if not held:
        raise Conflict(
            f"#{cmd.number} is not held, so there is nothing to publish now. See: show {cmd.number}"
        )
    current = pause.active(tx.session, ws.id, tx.now)
    if current is not None:
        raise Conflict(f"{pause.describe(current, zone_of(me, ws), tx.now)} Resume first.")
    for target in held:
        move(
            tx.session,
            target,
            "schedule",
            now=tx.now,
            workspace_id=ws.id,
            actor_id=me.id,
            scheduled_at=tx.now,
        )
    tx.later(Job.DISPATCH)
    names = networks_phrase([t.network for t in held])
    return Message(text=f"🚀 Publishing #{cmd.number} on {names} now.", post_number=cmd.number)


COMMANDS: tuple[Spec[Any], ...] = (
    Spec(
        name="pause",
        kind=PauseAll,
        usage="pause [duration] [reason]",
        summary="stop all publishing at once (admins)",
        detail="e.g. pause 2h breaking news. Nothing goes out, not even posts already queued, "
        "until resume (or the duration ends). Posts whose time passes meanwhile are held and "
        "you are asked what to do with them.",
        parse=parse_pause,
        handle=pause_all,
        permission=Action.CONFIGURE,
        sensitive=True,
    ),
    Spec(
        name="resume",
        kind=Resume,
        usage="resume",
        summary="lift a pause (admins)",
        parse=lambda _: Resume(),
        handle=resume,
        permission=Action.CONFIGURE,
        sensitive=True,
    ),
    Spec(
        name="release",
        kind=PublishNow,
        usage="release <n>",
        summary="publish a post held by a pause now",
        parse=numbered(PublishNow),
        handle=publish_now,
        permission=Action.SCHEDULE,
    ),
)
