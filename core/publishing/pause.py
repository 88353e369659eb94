"""Pause-all: publishing frozen for a workspace, or for the whole install, until resumed.

A pause is a row. The dispatcher claims nothing of a paused workspace, and the publish job
checks again just before the network call, so a target claimed before the pause goes back to
`scheduled` instead of out. On resume (by a person, or when a timed pause runs out) targets
claimed before the pause are released at once; those whose own time passed during the pause
are held (`draft`, their post still approved) and one message per conversation asks whether to
publish them now, reschedule or cancel them.
"""

from __future__ import annotations

from collections import defaultdict
from datetime import datetime
from zoneinfo import ZoneInfo

from sqlalchemy import ColumnElement, ColumnExpressionArgument, exists, or_, select, update
from sqlalchemy.orm import Session, selectinload

from core.audit import audit
from core.context import Context, Tx, run_tx
from core.jobs import Job
from core.messaging.say import notify, say
from core.posts.card import Message, build_card, networks_phrase
from core.posts.lifecycle import move
from core.timeparse import format_when
from core.workspace.people import zone_of
from storage.models import Pause, Post, PostState, Target, TargetState, Workspace

P, T = PostState, TargetState


def _open(now: datetime) -> ColumnElement[bool]:
    # A timed pause holds until the tick ends it (`lift_due`), never by the clock alone: the
    # tick is what holds the posts whose time came during it, so nothing slips out before.
    return Pause.ended_at.is_(None)


def freezes(workspace_id: ColumnExpressionArgument[int], now: datetime) -> ColumnElement[bool]:
    """SQL: a pause holds this workspace now (its own, or the whole install's)."""
    return exists().where(
        _open(now), or_(Pause.workspace_id == workspace_id, Pause.workspace_id.is_(None))
    )


def active(session: Session, workspace_id: int, now: datetime) -> Pause | None:
    """The pause holding the workspace now, its own before the install's; None if none."""
    rows = session.scalars(
        select(Pause)
        .where(_open(now), or_(Pause.workspace_id == workspace_id, Pause.workspace_id.is_(None)))
        .order_by(Pause.workspace_id.is_(None), Pause.id)
    ).all()
    return rows[0] if rows else None


def describe(pause: Pause, tz: ZoneInfo, now: datetime) -> str:
    """ "⏸ Publishing is paused by @maria since …, until …: reason.": what cards and queue
    show."""
    scope = "for this whole Herald " if pause.workspace_id is None else ""
    since = format_when(pause.started_at, tz, now=now)
    text = f"⏸ Publishing is paused {scope}by {pause.by_name} since {since}"
    if pause.until is not None:
        text += f", until {format_when(pause.until, tz, now=now)}"
    if pause.reason:
        text += f": {pause.reason}"
    return text + "."


def start(
    tx: Tx,
    workspace: Workspace | None,
    *,
    by_name: str,
    by_id: int | None,
    until: datetime | None,
    reason: str | None,
    conversation: str | None,
) -> Pause:
    pause = Pause(
        workspace_id=workspace.id if workspace else None,
        reason=reason,
        by_name=by_name,
        by_id=by_id,
        conversation=conversation,
        started_at=tx.now,
        until=until,
    )
    tx.session.add(pause)
    tx.session.flush()
    detail = {"pause": pause.id, "until": until.isoformat() if until else None, "reason": reason}
    for ws_id in _workspace_ids(tx, workspace):
        audit(tx, ws_id, "workspace.pause", actor_id=by_id, detail=detail)
    return pause


def end(
    tx: Tx,
    pause: Pause,
    *,
    by_id: int | None,
    by_name: str,
    timed_out: bool,
    said_in: str | None = None,
) -> bool:
    """End `pause` (once: False if someone else did first), then release or hold what it kept.
    `said_in`: the conversation a `resume` was typed in, which its own answer already tells."""
    ended = tx.session.connection().execute(
        update(Pause).where(Pause.id == pause.id, Pause.ended_at.is_(None)).values(ended_at=tx.now)
    )
    if ended.rowcount != 1:
        return False
    tx.session.refresh(pause)
    scope = tx.session.get(Workspace, pause.workspace_id) if pause.workspace_id else None
    detail = {"pause": pause.id, "by": by_name, "timed_out": timed_out}
    for ws_id in _workspace_ids(tx, scope):
        audit(tx, ws_id, "workspace.resume", actor_id=by_id, detail=detail)
        ws = tx.session.get(Workspace, ws_id)
        assert ws is not None
        if active(tx.session, ws_id, tx.now) is None:
            _release(tx, ws, pause, by_id, said_in=said_in)
    return True


def _workspace_ids(tx: Tx, workspace: Workspace | None) -> list[int]:
    if workspace is not None:
        return [workspace.id]
    return list(tx.session.scalars(select(Workspace.id).order_by(Workspace.id)))


def _release(
    tx: Tx, ws: Workspace, pause: Pause, by_id: int | None, *, said_in: str | None = None
) -> None:
    """After the pause: targets claimed before it go out now; those whose time came during it
    are held, and their conversations are asked what to do."""
    due = tx.session.scalars(
        select(Target)
        .join(Post, Post.id == Target.post_id)
        .where(
            Post.workspace_id == ws.id,
            Post.state == P.APPROVED,
            Target.state == T.SCHEDULED,
            Target.scheduled_at <= tx.now,
        )
        .order_by(Target.scheduled_at, Target.id)
        .with_for_update(of=Target)
    ).all()
    held: dict[int, list[Target]] = defaultdict(list)
    release = False
    for target in due:
        assert target.scheduled_at is not None
        if target.scheduled_at <= pause.started_at:  # due before it: claimed, or about to be
            release = True
            continue
        if move(
            tx.session,
            target,
            "unschedule",
            now=tx.now,
            workspace_id=ws.id,
            actor_id=by_id,
            detail={"held": "its time passed during a pause", "pause": pause.id},
        ):
            held[target.post_id].append(target)
    if release:
        tx.later(Job.DISPATCH)
    told = pause.conversation == said_in  # the resume's own answer said it there
    if pause.conversation and pause.workspace_id == ws.id and not told:
        say(tx, ws, Message(text="▶ Publishing resumed."), conversation=pause.conversation)
    if held:
        _ask(tx, ws, held)


def _ask(tx: Tx, ws: Workspace, held: dict[int, list[Target]]) -> None:
    """One message per conversation listing the held posts, and each post's card redrawn with
    Publish now · Reschedule · Cancel."""
    tz = zone_of(None, ws)
    posts = tx.session.scalars(
        select(Post)
        .where(Post.id.in_(held))
        .order_by(Post.number)
        .options(selectinload(Post.targets))
    ).all()
    by_conversation: dict[str, list[Post]] = defaultdict(list)
    for post in posts:
        by_conversation[post.conversation].append(post)
    for conversation, group in by_conversation.items():
        lines = [
            f"#{post.number} · {networks_phrase([t.network for t in held[post.id]])} · was due "
            + format_when(min(t.scheduled_at or tx.now for t in held[post.id]), tz, now=tx.now)
            for post in group
        ]
        example = group[0].number
        text = (
            "⏸ The time of these posts passed during the pause, so they were held:\n"
            + "\n".join(lines)
            + f"\nFor each: release {example} (publish now) · reschedule {example} <when> · "
            f"cancel {example}"
        )
        say(tx, ws, Message(text=text), conversation=conversation)
        for post in group:
            card = build_card(
                post, tz=tz, now=tx.now, status="⏸ Held: its time passed during a pause"
            )
            notify(tx, post, Message(card=card, post_number=post.number))


def lift_due(ctx: Context) -> int:
    """End every timed pause whose time is up, each once however many ticks run."""
    return run_tx(ctx, _lift_due)


def _lift_due(tx: Tx) -> int:
    due = tx.session.scalars(
        select(Pause)
        .where(Pause.ended_at.is_(None), Pause.until.is_not(None), Pause.until <= tx.now)
        .order_by(Pause.id)
        .with_for_update(skip_locked=True)
    ).all()
    return sum(end(tx, pause, by_id=None, by_name="its timer", timed_out=True) for pause in due)


# --- the operator's switch for the whole install (`herald pause --all`) ----------------------


def pause_install(ctx: Context, until: datetime | None, reason: str | None) -> str:
    """Pause every workspace of this Herald; what the operator is told."""

    def body(tx: Tx) -> str:
        current = tx.session.scalars(
            select(Pause).where(_open(tx.now), Pause.workspace_id.is_(None))
        ).first()
        if current is not None:
            return f"Already paused: {describe(current, ZoneInfo('UTC'), tx.now)}"
        started = start(
            tx,
            None,
            by_name="the operator",
            by_id=None,
            until=until,
            reason=reason,
            conversation=None,
        )
        return describe(started, ZoneInfo("UTC"), tx.now)

    return run_tx(ctx, body)


def resume_install(ctx: Context) -> str:
    """Lift the install-wide pause; what the operator is told."""

    def body(tx: Tx) -> str:
        current = tx.session.scalars(
            select(Pause).where(_open(tx.now), Pause.workspace_id.is_(None)).with_for_update()
        ).first()
        if current is None:
            return "Publishing is not paused for the whole install; nothing to resume."
        end(tx, current, by_id=None, by_name="the operator", timed_out=False)
        return "▶ Publishing resumed for every workspace (a workspace's own pause stays)."

    return run_tx(ctx, body)
