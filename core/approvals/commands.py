"""What people ask of approvals: approve, reject, and the workspace's approval policy."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from sqlalchemy import func, select

from core.approvals import deadlines
from core.audit import audit
from core.context import Tx
from core.durations import parse_span
from core.errors import BadInput, Conflict, Forbidden
from core.grammar import Words, numbered
from core.jobs import Job
from core.permissions import Action, require
from core.posts.card import Message, networks_phrase
from core.posts.lifecycle import move
from core.posts.queries import STATE_WORDS
from core.registry import Request, Spec
from core.timeparse import format_when
from core.workspace import second_factor
from core.workspace.people import TEAM_ELSEWHERE, alone_at_terminal, find_post, zone_of
from storage.models import Approval, AuditEvent, Member, Post, PostState

P = PostState
MAX_REASON = 500


@dataclass(frozen=True)
class Approve:
    number: int


@dataclass(frozen=True)
class Reject:
    number: int
    reason: str | None = None


@dataclass(frozen=True)
class SetPolicy:
    self_approval: bool | None = None
    approvals_required: int | None = None
    # Lead times before a pending post's planned time, in minutes (0: off).
    reminder: int | None = None
    escalate: int | None = None
    second_factor: bool | None = None

    def changes(self) -> bool:
        """Whether it changes the policy (sensitive), or only reads it."""
        asked = (
            self.self_approval,
            self.approvals_required,
            self.reminder,
            self.escalate,
            self.second_factor,
        )
        return any(value is not None for value in asked)


def _lead(words: Words, key: str, value: str) -> int:
    if value in {"off", "none", "0"}:
        return 0
    span = parse_span(value)
    if span is None or not timedelta(minutes=1) <= span <= deadlines.LONGEST_LEAD:
        raise words.fail(f"{key} takes a lead time from 1m to 7d, e.g. 2h or 30m, or off.")
    return int(span.total_seconds() // 60)


def parse_reject(words: Words) -> Reject:
    number = words.number()
    reason = words.after_first() or None
    if reason and len(reason) > MAX_REASON:
        raise BadInput(f"Keep the reason under {MAX_REASON} characters.")
    return Reject(number=number, reason=reason)


def parse_policy(words: Words) -> SetPolicy:
    self_approval: bool | None = None
    approvals: int | None = None
    leads: dict[str, int] = {}
    second: bool | None = None
    args = [a.lower() for a in words.args]
    while args:
        key = args.pop(0)
        if not args:
            raise words.fail(f"{key} needs a value.")
        value = args.pop(0)
        if key in {"self-approval", "self_approval", "selfapproval"}:
            self_approval = words.toggle(value)
        elif key in {"approvals", "approvals-required"}:
            if not value.isdigit() or not 1 <= int(value) <= 5:
                raise words.fail("approvals takes a number from 1 to 5.")
            approvals = int(value)
        elif key in {"reminder", "remind"}:
            leads["reminder"] = _lead(words, "reminder", value)
        elif key in {"escalate", "escalation"}:
            leads["escalate"] = _lead(words, "escalate", value)
        elif key in {"2fa", "second-factor"}:
            second = words.toggle(value)
        else:
            raise words.fail(f'I don\'t know the policy "{key}".')
    return SetPolicy(
        self_approval=self_approval, approvals_required=approvals, second_factor=second, **leads
    )


def _approver_names(tx: Tx, post: Post) -> list[str]:
    rows = tx.session.scalars(
        select(Member.display_name)
        .join(Approval, Approval.member_id == Member.id)
        .where(Approval.post_id == post.id, Approval.revision == post.revision)
        .order_by(Approval.id)
    )
    return [f"@{name}" for name in rows]


def _not_pending(tx: Tx, post: Post) -> Conflict:
    if post.state == P.APPROVED:
        names = ", ".join(_approver_names(tx, post)) or "someone else"
        return Conflict(f"#{post.number} was already approved by {names}. Nothing to do.")
    return Conflict(f"#{post.number} {STATE_WORDS[post.state]}, so it can't be approved now.")


def last_writers(tx: Tx, post: Post) -> dict[str, int | None]:
    """Who last changed each network's text: the drafter, then whoever edited that network or
    asked for a regeneration (their feedback steers the new text, so it is theirs too). A
    worker's own rewrite keeps the person who asked for it. Read from the audit trail."""
    writers: dict[str, int | None] = {t.network: post.author_id for t in post.targets}
    changes = tx.session.execute(
        select(AuditEvent.action, AuditEvent.actor_id, AuditEvent.detail)
        .where(
            AuditEvent.post_id == post.id,
            AuditEvent.action.in_(["post.edit", "post.regenerate"]),
            AuditEvent.actor_id.is_not(None),
        )
        .order_by(AuditEvent.id)
    )
    for action, actor_id, detail in changes:
        if action == "post.regenerate":
            writers = dict.fromkeys(writers, actor_id)
        elif detail.get("network") in writers:
            writers[detail["network"]] = actor_id
    return writers


def _refuse_own_text(tx: Tx, post: Post, me: Member) -> None:
    """Four eyes: neither the drafter nor whoever last changed a text approves it alone."""
    if post.author_id == me.id:
        raise Forbidden(
            f"You drafted #{post.number}, and this workspace needs someone else to approve it. "
            "Ask an approver, or an admin can allow it: policy self-approval on"
        )
    mine = [n for n, writer in last_writers(tx, post).items() if writer == me.id]
    if mine:
        raise Forbidden(
            f"You last changed the {networks_phrase(mine)} text of #{post.number}, and this "
            "workspace needs someone else to approve it. Ask another approver, or an admin can "
            "allow it: policy self-approval on"
        )


def approve(r: Request, cmd: Approve) -> Message:
    tx, ws, me, number = r.tx, r.ws, r.me, cmd.number
    post = find_post(tx, ws, number, lock=True)
    if post.state != P.PENDING_APPROVAL:
        raise _not_pending(tx, post)
    if not ws.self_approval:
        _refuse_own_text(tx, post, me)
    already = tx.session.scalars(
        select(Approval.id).where(
            Approval.post_id == post.id,
            Approval.member_id == me.id,
            Approval.revision == post.revision,
        )
    ).first()
    if already is not None:
        raise Conflict(f"You already approved #{number}; it needs another approver.")
    tx.session.add(
        Approval(post_id=post.id, member_id=me.id, revision=post.revision, created_at=tx.now)
    )
    tx.session.flush()
    count = tx.session.scalar(
        select(func.count(Approval.id)).where(
            Approval.post_id == post.id, Approval.revision == post.revision
        )
    )
    if (count or 0) < ws.approvals_required:
        audit(
            tx,
            ws.id,
            "post.approval",
            actor_id=me.id,
            post_id=post.id,
            detail={"count": count, "required": ws.approvals_required},
        )
        return Message(
            text=f"Approval {count} of {ws.approvals_required} for #{number} recorded by "
            f"@{me.display_name}. Waiting for {ws.approvals_required - (count or 0)} more.",
            post_number=number,
        )
    if not move(tx.session, post, "approve", now=tx.now, actor_id=me.id):
        raise _not_pending(tx, post)
    tz = zone_of(me, ws)
    at = post.planned_at if post.planned_at and post.planned_at > tx.now else tx.now
    for target in post.targets:
        move(
            tx.session,
            target,
            "schedule",
            now=tx.now,
            workspace_id=ws.id,
            actor_id=me.id,
            scheduled_at=at,
        )
    names = ", ".join(_approver_names(tx, post))
    if at <= tx.now:
        tx.later(Job.DISPATCH)
        late = " (its planned time has passed)" if post.planned_at else ""
        when = f"publishing now{late}"
    else:
        when = f"scheduled for {format_when(at, tz, now=tx.now)}"
    return Message(text=f"✅ #{number} approved by {names} · {when}", post_number=number)


def reject(r: Request, cmd: Reject) -> Message:
    tx, ws, me = r.tx, r.ws, r.me
    post = find_post(tx, ws, cmd.number, lock=True)
    if post.state != P.PENDING_APPROVAL:
        raise Conflict(f"#{post.number} {STATE_WORDS[post.state]}, so it can't be rejected now.")
    reason = cmd.reason or "no reason given"
    if not move(
        tx.session,
        post,
        "reject",
        now=tx.now,
        actor_id=me.id,
        detail={"reason": reason},
        problem=f"Rejected by @{me.display_name}: {reason}",
    ):
        raise Conflict(f"#{post.number} changed a moment ago; look at it again: show {cmd.number}")
    return Message(
        text=f"❌ #{post.number} rejected by @{me.display_name}: {reason}. "
        f"Edit it (edit {post.number} <network> <text>) or regenerate {post.number}.",
        post_number=post.number,
    )


def set_policy(r: Request, cmd: SetPolicy) -> Message:
    """Everyone may read the policy; changing it is for admins."""
    tx, ws, me = r.tx, r.ws, r.me
    if cmd.second_factor is not None:
        require(me, Action.CONFIGURE)
        _set_second_factor(r, cmd.second_factor)
    if cmd.reminder is not None or cmd.escalate is not None:
        require(me, Action.CONFIGURE)
        was = deadlines.describe(ws)
        changes = {
            f"{key}_minutes": value
            for key, value in (("reminder", cmd.reminder), ("escalate", cmd.escalate))
            if value is not None
        }
        ws.settings = {**(ws.settings or {}), **changes}
        audit(
            tx,
            ws.id,
            "workspace.policy",
            actor_id=me.id,
            detail={"after": deadlines.describe(ws), **changes},
            before={"deadlines": was},
        )
    if cmd.self_approval is not None or cmd.approvals_required is not None:
        require(me, Action.CONFIGURE)
        if alone_at_terminal(tx, ws) and (
            cmd.self_approval is False or (cmd.approvals_required or 1) > 1
        ):
            raise BadInput(
                "The terminal chat has one person, so approvals need no second approver: "
                f"self-approval stays on and one approval is enough. {TEAM_ELSEWHERE}."
            )
        before = {"self_approval": ws.self_approval, "approvals": ws.approvals_required}
        if cmd.self_approval is not None:
            ws.self_approval = cmd.self_approval
        if cmd.approvals_required is not None:
            ws.approvals_required = cmd.approvals_required
        audit(
            tx,
            ws.id,
            "workspace.policy",
            actor_id=me.id,
            detail={"self_approval": ws.self_approval, "approvals": ws.approvals_required},
            before=before,
        )
    second = "on" if second_factor.policy_on(ws) else "off"
    return Message(
        text=f"Self-approval: {'on' if ws.self_approval else 'off'} · approvals required: "
        f"{ws.approvals_required} · {deadlines.describe(ws)} · "
        f"2FA for sensitive actions: {second}"
    )


def _set_second_factor(r: Request, on: bool) -> None:
    """`policy 2fa on` only from someone with a second factor: else the admin who turns it on
    could not turn it off again."""
    tx, ws, me = r.tx, r.ws, r.me
    if on and second_factor.policy_on(ws) is False:
        factor = second_factor.factor_of(tx, r.actor)
        if factor is None or factor.confirmed_at is None:
            raise BadInput(
                "Set up your own second factor first (2fa enrol), so that you can still change "
                "the policy once it asks for codes; then policy 2fa on."
            )
    was = bool(second_factor.policy_on(ws))
    ws.settings = {**ws.settings, second_factor.POLICY_KEY: on}
    audit(
        tx,
        ws.id,
        "workspace.policy",
        actor_id=me.id,
        detail={"second_factor": on},
        before={"second_factor": was},
    )


COMMANDS: tuple[Spec[Any], ...] = (
    Spec(
        name="approve",
        kind=Approve,
        usage="approve <n>",
        summary="approve a pending post",
        parse=numbered(Approve),
        handle=approve,
        permission=Action.APPROVE,
        aliases=("ok",),
        menu=True,
    ),
    Spec(
        name="reject",
        kind=Reject,
        usage="reject <n> [reason]",
        summary="reject a pending post, with a reason",
        parse=parse_reject,
        handle=reject,
        permission=Action.REJECT,
        menu=True,
    ),
    Spec(
        name="policy",
        kind=SetPolicy,
        usage="policy [self-approval on|off] [approvals <n>] [2fa on|off] · "
        "policy reminder <2h|off> · policy escalate <30m|off>",
        summary="approvals needed, deadlines, 2FA",
        detail="Anyone can read it; admins change it. A pending post with a planned time "
        "reminds its approvers (default 2h before), then calls the admins (30m before), and "
        "expires unpublished if still unapproved at its time. With 2fa on, connect, "
        "disconnect, role, pause and policy changes need a code from the person's "
        "authenticator app.",
        parse=parse_policy,
        handle=set_policy,
        sensitive=SetPolicy.changes,
    ),
)
