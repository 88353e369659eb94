"""Chat commands: one function per command of the grammar, each in one transaction."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import func, select

from core import commands as c
from core.context import Context, Tx
from core.errors import BadInput, Conflict, Forbidden
from core.jobs import Job
from core.networks import get_network
from core.permissions import Action, require
from core.posts.card import (
    Message,
    asking,
    asking_cleared,
    build_card,
    cut,
    networks_phrase,
    when_text,
)
from core.posts.lifecycle import move
from core.timeparse import TimeParseError, format_when, parse_when, parse_zone
from core.workspace.people import (
    find_post,
    member_by_id,
    members_called,
    next_post_number,
    zone_of,
)
from storage.models import (
    Approval,
    AuditEvent,
    Member,
    Post,
    PostState,
    Role,
    SurfaceKind,
    Target,
    TargetState,
    Workspace,
)

P, T = PostState, TargetState

_STATE_WORDS = {
    P.GENERATING: "is still being drafted; its card will appear in a moment",
    P.DRAFT: "is a draft that has not been submitted",
    P.PENDING_APPROVAL: "is waiting for approval",
    P.APPROVED: "is already approved",
    P.REJECTED: "was rejected",
    P.CANCELLED: "was cancelled",
}


def _when(ctx: Context, text: str, tz: ZoneInfo, now: datetime, number: int | None) -> datetime:
    try:
        instant = parse_when(text, now=now, tz=tz)
    except TimeParseError as exc:
        raise BadInput(str(exc)) from None
    if instant <= now:
        what = f"#{number}" if number else "this post"
        raise BadInput(
            f"I can't schedule {what} for {format_when(instant, tz, now=now)}: that is in the "
            'past. Pick a time in the future, e.g. "tomorrow 9am".'
        )
    return instant


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
    return Conflict(f"#{post.number} {_STATE_WORDS[post.state]}, so it can't be approved now.")


def _ensure_networks(ctx: Context, tx: Tx, ws: Workspace, networks: tuple[str, ...]) -> None:
    ready = sorted(n for n, p in ctx.publishers.items() if p.is_connected(tx.session, ws.id))
    missing = [n for n in networks if n not in ready]
    if missing:
        available = ", ".join(ready) or "none"
        names = networks_phrase(missing)
        raise BadInput(
            f"{names} {'is' if len(missing) == 1 else 'are'} not connected here yet. "
            f"Networks you can post to now: {available}. Connect one with: connect <network>"
        )


def draft(
    ctx: Context, tx: Tx, ws: Workspace, me: Member, cmd: c.Draft, conversation: str
) -> Message:
    require(me, Action.DRAFT)
    networks = cmd.networks or tuple(n for n in ws.default_networks.split(",") if n)
    _ensure_networks(ctx, tx, ws, networks)
    tz = zone_of(me, ws)
    planned = _when(ctx, cmd.when, tz, tx.now, None) if cmd.when else None
    number = next_post_number(tx, ws)
    post = Post(
        workspace_id=ws.id,
        number=number,
        author_id=me.id,
        brief=cmd.brief,
        state=P.GENERATING,
        revision=1,
        planned_at=planned,
        # Cards go to the workspace's approvals channel when one is set, else back to the asker.
        conversation=ws.settings.get("approvals_channel") or conversation,
        generator=ctx.generator.label,
        created_at=tx.now,
        updated_at=tx.now,
    )
    post.targets = [
        Target(network=n, text="", warnings={}, state=T.DRAFT, state_changed_at=tx.now)
        for n in networks
    ]
    tx.session.add(post)
    tx.session.flush()
    tx.session.add(
        AuditEvent(
            workspace_id=ws.id,
            post_id=post.id,
            actor_id=me.id,
            action="post.create",
            to_state=P.GENERATING.value,
            detail={"networks": list(networks)},
            created_at=tx.now,
        )
    )
    tx.later(Job.GENERATE, post.id)
    when = f" for {when_text(planned, tz, tx.now)}" if planned else ""
    return Message(
        text=f"Drafting #{number} for {networks_phrase(list(networks))}{when}…",
        post_number=number,
    )


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


def approve(ctx: Context, tx: Tx, ws: Workspace, me: Member, number: int) -> Message:
    require(me, Action.APPROVE)
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
        tx.session.add(
            AuditEvent(
                workspace_id=ws.id,
                post_id=post.id,
                actor_id=me.id,
                action="post.approval",
                detail={"count": count, "required": ws.approvals_required},
                created_at=tx.now,
            )
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


def reject(ctx: Context, tx: Tx, ws: Workspace, me: Member, cmd: c.Reject) -> Message:
    require(me, Action.REJECT)
    post = find_post(tx, ws, cmd.number, lock=True)
    if post.state != P.PENDING_APPROVAL:
        raise Conflict(f"#{post.number} {_STATE_WORDS[post.state]}, so it can't be rejected now.")
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


def _back_to_draft(tx: Tx, ws: Workspace, me: Member, post: Post) -> None:
    busy = [t for t in post.targets if t.state in {T.QUEUED, T.PUBLISHING, T.UNKNOWN}]
    if busy:
        raise Conflict(
            f"#{post.number} is being published to {networks_phrase([t.network for t in busy])} "
            "right now. Wait for it to finish, then draft a follow-up."
        )
    for target in post.targets:
        if target.state in {T.SCHEDULED, T.FAILED}:
            move(tx.session, target, "unschedule", now=tx.now, workspace_id=ws.id, actor_id=me.id)


def edit(ctx: Context, tx: Tx, ws: Workspace, me: Member, cmd: c.Edit) -> Message:
    require(me, Action.EDIT)
    post = find_post(tx, ws, cmd.number, lock=True)
    target = next((t for t in post.targets if t.network == cmd.network), None)
    network = get_network(cmd.network)
    if target is None:
        raise BadInput(
            f"#{post.number} is not going to {network.display}. It is for "
            f"{networks_phrase([t.network for t in post.targets])}."
        )
    if post.state in {P.GENERATING, P.CANCELLED}:
        raise Conflict(f"#{post.number} {_STATE_WORDS[post.state]}, so it can't be edited now.")
    if target.state == T.PUBLISHED:
        raise Conflict(f"#{post.number} is already published on {network.display}.")
    length = network.length(cmd.text)
    if not cmd.text.strip():
        raise BadInput(f"The new {network.display} text is empty. Give the text after the network.")
    if not network.fits(cmd.text):
        raise BadInput(
            f"The new {network.display} text is {length:,}/{network.limit:,} {network.unit}. "
            f"Shorten it by {length - network.limit:,} and try again."
        )
    _back_to_draft(tx, ws, me, post)
    before = target.text
    target.text = cmd.text
    target.warnings = {}
    if not move(
        tx.session,
        post,
        "edit",
        now=tx.now,
        actor_id=me.id,
        detail={"network": cmd.network, "before": before, "after": cmd.text},
        revision=post.revision + 1,
        problem=None,
    ):
        raise Conflict(f"#{post.number} changed a moment ago; look at it again: show {post.number}")
    tx.session.refresh(post)
    card = build_card(
        post,
        tz=zone_of(me, ws),
        now=tx.now,
        status=f"✏️ Edited by @{me.display_name} · waiting for approval",
    )
    return Message(card=card, post_number=post.number)


def regenerate(ctx: Context, tx: Tx, ws: Workspace, me: Member, cmd: c.Regenerate) -> Message:
    require(me, Action.REGENERATE)
    post = find_post(tx, ws, cmd.number, lock=True)
    if post.state in {P.GENERATING, P.CANCELLED}:
        raise Conflict(f"#{post.number} {_STATE_WORDS[post.state]}, so it can't be redrafted now.")
    if any(t.state == T.PUBLISHED for t in post.targets):
        raise Conflict(f"#{post.number} is already published; draft a new post instead.")
    _back_to_draft(tx, ws, me, post)
    if not move(
        tx.session,
        post,
        "regenerate",
        now=tx.now,
        actor_id=me.id,
        detail={"feedback": cmd.feedback},
        revision=post.revision + 1,
        feedback=cmd.feedback,
        problem=None,
        generator=ctx.generator.label,
    ):
        raise Conflict(f"#{post.number} changed a moment ago; look at it again: show {post.number}")
    tx.later(Job.GENERATE, post.id)
    hint = f" ({cmd.feedback})" if cmd.feedback else ""
    return Message(text=f"Drafting #{post.number} again{hint}…", post_number=post.number)


def _reschedule(
    tx: Tx, ws: Workspace, me: Member, target: Target, at: datetime, *, fresh_attempts: bool = False
) -> None:
    """Move a scheduled or failed target to `at`; after a failure, a fresh attempt budget."""
    values: dict[str, Any] = {"scheduled_at": at, "failure_reason": None}
    if fresh_attempts:
        values["attempts"] = 0
    move(tx.session, target, "reschedule", now=tx.now, workspace_id=ws.id, actor_id=me.id, **values)


def schedule(ctx: Context, tx: Tx, ws: Workspace, me: Member, cmd: c.Schedule) -> Message:
    require(me, Action.SCHEDULE)
    tz = zone_of(me, ws)
    instant = _when(ctx, cmd.when, tz, tx.now, cmd.number)
    post = find_post(tx, ws, cmd.number, lock=True)
    if post.state in {P.REJECTED, P.CANCELLED}:
        raise Conflict(f"#{post.number} {_STATE_WORDS[post.state]}; edit it before scheduling.")
    movable = [t for t in post.targets if t.state in {T.SCHEDULED, T.FAILED}]
    if post.state == P.APPROVED and not movable:
        raise Conflict(f"#{post.number} has nothing left to schedule: show {post.number}")
    post.planned_at = instant
    for target in movable:
        _reschedule(tx, ws, me, target, instant)
    when = format_when(instant, tz, now=tx.now)
    if post.state == P.APPROVED:
        return Message(text=f"🗓 #{post.number} will go out {when}.", post_number=post.number)
    return Message(
        text=f"🗓 #{post.number} is planned for {when}, once approved.", post_number=post.number
    )


def cancel(ctx: Context, tx: Tx, ws: Workspace, me: Member, number: int) -> Message:
    require(me, Action.CANCEL)
    post = find_post(tx, ws, number, lock=True)
    if post.state == P.CANCELLED:
        raise Conflict(f"#{number} is already cancelled.")
    busy = [t for t in post.targets if t.state in {T.QUEUED, T.PUBLISHING, T.UNKNOWN}]
    if busy:
        raise Conflict(
            f"#{number} is being published to {networks_phrase([t.network for t in busy])} right "
            "now and can't be stopped. Delete it on the network if you need to."
        )
    published = [t.network for t in post.targets if t.state == T.PUBLISHED]
    if published and len(published) == len(post.targets):
        raise Conflict(f"#{number} is already published; there is nothing left to cancel.")
    for target in post.targets:
        move(tx.session, target, "cancel", now=tx.now, workspace_id=ws.id, actor_id=me.id)
    move(tx.session, post, "cancel", now=tx.now, actor_id=me.id)
    if published:
        return Message(
            text=f"Cancelled the rest of #{number}; {networks_phrase(published)} was already "
            "published.",
            post_number=number,
        )
    return Message(text=f"Cancelled #{number}. Nothing will be posted.", post_number=number)


def _failed_targets(
    tx: Tx, ws: Workspace, me: Member, number: int, network: str | None, verb: str
) -> tuple[Post, list[Target]]:
    """The post's failed targets (one network's, if named), or a refusal saying there are none."""
    require(me, Action.SCHEDULE)
    post = find_post(tx, ws, number, lock=True)
    failed = [
        t for t in post.targets if t.state == T.FAILED and (network is None or t.network == network)
    ]
    if post.state != P.APPROVED or not failed:
        raise Conflict(f"#{number} has no failed network to {verb}. See: show {number}")
    return post, failed


def retry(ctx: Context, tx: Tx, ws: Workspace, me: Member, cmd: c.Retry) -> Message:
    _, failed = _failed_targets(tx, ws, me, cmd.number, cmd.network, "retry")
    for target in failed:
        _reschedule(tx, ws, me, target, tx.now, fresh_attempts=True)
    tx.later(Job.DISPATCH)
    return Message(
        text=f"Retrying #{cmd.number} on {networks_phrase([t.network for t in failed])} now.",
        post_number=cmd.number,
    )


def posted(ctx: Context, tx: Tx, ws: Workspace, me: Member, cmd: c.Posted) -> Message:
    """ "Yes, it's up": the post Herald could not check went out; no second post is made."""
    require(me, Action.SCHEDULE)  # whoever may retry may answer instead
    post = find_post(tx, ws, cmd.number, lock=True)
    name = get_network(cmd.network).display
    target = next((t for t in post.targets if t.network == cmd.network and asking(t)), None)
    if target is None:
        raise Conflict(
            f"#{cmd.number} has no {name} post waiting for that answer. See: show {cmd.number}"
        )
    move(
        tx.session,
        target,
        "posted",
        now=tx.now,
        workspace_id=ws.id,
        actor_id=me.id,
        external_url=cmd.url,
        published_at=tx.now,
        failure_reason=None,
        warnings=asking_cleared(target),
        detail={"by": "person", "url": cmd.url},
    )
    where = f": {cmd.url}" if cmd.url else " (no link given)"
    return Message(
        text=f"🚀 #{cmd.number} marked published on {name}{where}.", post_number=cmd.number
    )


def show(ctx: Context, tx: Tx, ws: Workspace, me: Member, number: int) -> Message:
    require(me, Action.VIEW)
    post = find_post(tx, ws, number)
    tz = zone_of(me, ws)
    events = tx.session.execute(
        select(AuditEvent, Member.display_name)
        .outerjoin(Member, Member.id == AuditEvent.actor_id)
        .where(AuditEvent.post_id == post.id)
        .order_by(AuditEvent.id)
    ).all()
    history = [
        f"{format_when(e.created_at, tz, now=tx.now)} · {e.action}"
        + (f" → {e.to_state}" if e.to_state else "")
        + (f" by @{name}" if name else "")
        for e, name in events
    ]
    card = build_card(post, tz=tz, now=tx.now, status=status_line(post, tz, tx.now))
    return Message(text="History:\n" + "\n".join(history), card=card, post_number=number)


def status_line(post: Post, tz: ZoneInfo, now: datetime) -> str:
    if post.state != P.APPROVED:
        return {
            P.GENERATING: "Drafting…",
            P.DRAFT: f"⚠ {post.problem or 'Not submitted'}",
            P.PENDING_APPROVAL: "Waiting for approval",
            P.REJECTED: f"❌ {post.problem or 'Rejected'}",
            P.CANCELLED: "Cancelled",
        }[post.state]
    parts = []
    for t in post.targets:
        name = get_network(t.network).display
        if t.state == T.PUBLISHED:
            parts.append(f"🚀 {name}: {t.external_url}")
        elif asking(t):
            parts.append(f"❓ {t.failure_reason}")
        elif t.state == T.FAILED:
            parts.append(f"⚠ {name} failed: {t.failure_reason}")
        elif t.state == T.SCHEDULED and t.scheduled_at:
            parts.append(f"🗓 {name}: {format_when(t.scheduled_at, tz, now=now)}")
        else:
            parts.append(f"{name}: {t.state.value}")
    return " · ".join(parts)


def queue(ctx: Context, tx: Tx, ws: Workspace, me: Member) -> Message:
    require(me, Action.VIEW)
    open_states = [P.GENERATING, P.DRAFT, P.PENDING_APPROVAL, P.APPROVED, P.REJECTED]
    posts = tx.session.scalars(
        select(Post).where(Post.workspace_id == ws.id, Post.state.in_(open_states))
    ).all()
    done = {T.PUBLISHED, T.CANCELLED}
    live = [p for p in posts if not all(t.state in done for t in p.targets)]
    if not live:
        return Message(text="Nothing is waiting. Start one: draft <brief> --to outbox")
    tz = zone_of(me, ws)

    def soonest(post: Post) -> tuple[int, datetime]:
        times = [t.scheduled_at for t in post.targets if t.scheduled_at] or (
            [post.planned_at] if post.planned_at else []
        )
        return (1, min(times)) if times else (0, post.created_at)

    lines = []
    for post in sorted(live, key=soonest):
        nets = networks_phrase([t.network for t in post.targets])
        lines.append(
            f"#{post.number} · {post.state.value.replace('_', ' ')} · {nets} · "
            f"{cut(post.brief, 60)} · {status_line(post, tz, tx.now)}"
            + ("" if post.state == P.APPROVED else f" · {when_text(post.planned_at, tz, tx.now)}")
        )
    return Message(text="\n".join(lines))


def set_timezone(ctx: Context, tx: Tx, ws: Workspace, me: Member, zone: str | None) -> Message:
    if zone:
        try:
            me.timezone = parse_zone(zone).key
        except TimeParseError as exc:
            raise BadInput(str(exc)) from None
    tz = zone_of(me, ws)
    return Message(
        text=f"Your time zone is {tz.key}; it is now {format_when(tx.now, tz, now=tx.now)}."
    )


def _pick_member(tx: Tx, ws: Workspace, cmd: c.SetRole) -> Member:
    """The member a role goes to, by the platform's verified id only.

    On the terminal the id is the name typed at login (the screen is one person's), so a bare
    name is an id there. Elsewhere a bare name is words anyone can choose as a display name:
    it never picks or creates anyone; the refusal lists who it could mean.
    """
    if cmd.verified or ws.kind == SurfaceKind.TERMINAL:
        member = member_by_id(tx, ws, cmd.user)
        if member is None:
            member = Member(
                workspace_id=ws.id,
                external_id=cmd.user,
                display_name=cmd.user,  # their own name arrives with their first message
                role=Role.VIEWER,
                created_at=tx.now,
            )
            tx.session.add(member)
        return member
    how = {
        SurfaceKind.SLACK: f"mention them, picking them from Slack's list as you type @: "
        f"role @name {cmd.role.value}",
        SurfaceKind.TELEGRAM: f"reply to a message of theirs with /role {cmd.role.value}",
    }.get(ws.kind, f"mention them: role @name {cmd.role.value}")
    candidates = members_called(tx, ws, cmd.user)
    could_be = (
        f' "{cmd.user}" could be: '
        + ", ".join(f"@{m.display_name} (id {m.external_id})" for m in candidates)
        + "."
        if candidates
        else ""
    )
    raise BadInput(
        f"I give roles only to a person the chat identifies, never by a typed name (anyone can "
        f"choose one). To be sure who gets it, {how}.{could_be}"
    )


def set_role(ctx: Context, tx: Tx, ws: Workspace, me: Member, cmd: c.SetRole) -> Message:
    require(me, Action.CONFIGURE)
    if cmd.role == Role.OWNER and me.role != Role.OWNER:
        raise Forbidden("Only an owner can make someone an owner.")
    member = _pick_member(tx, ws, cmd)
    if member.role == Role.OWNER and me.role != Role.OWNER:
        raise Forbidden(
            f"@{member.display_name} is an owner, and only an owner can change an owner's role. "
            "Ask an owner."
        )
    if member.role == Role.OWNER and cmd.role != Role.OWNER:
        owners = tx.session.scalar(
            select(func.count(Member.id)).where(
                Member.workspace_id == ws.id, Member.role == Role.OWNER
            )
        )
        if (owners or 0) <= 1:
            raise Conflict("That is the last owner. Make someone else owner first.")
    member.role = cmd.role
    tx.session.flush()
    tx.session.add(
        AuditEvent(
            workspace_id=ws.id,
            actor_id=me.id,
            action="member.role",
            detail={
                "member": member.display_name,
                "member_id": member.external_id,
                "role": cmd.role.value,
            },
            created_at=tx.now,
        )
    )
    return Message(text=f"@{member.display_name} is now {cmd.role.value}.")


def set_policy(ctx: Context, tx: Tx, ws: Workspace, me: Member, cmd: c.SetPolicy) -> Message:
    if cmd.self_approval is not None or cmd.approvals_required is not None:
        require(me, Action.CONFIGURE)
        if cmd.self_approval is not None:
            ws.self_approval = cmd.self_approval
        if cmd.approvals_required is not None:
            ws.approvals_required = cmd.approvals_required
        tx.session.add(
            AuditEvent(
                workspace_id=ws.id,
                actor_id=me.id,
                action="workspace.policy",
                detail={"self_approval": ws.self_approval, "approvals": ws.approvals_required},
                created_at=tx.now,
            )
        )
    return Message(
        text=f"Self-approval: {'on' if ws.self_approval else 'off'} · approvals required: "
        f"{ws.approvals_required}"
    )


def configure(ctx: Context, tx: Tx, ws: Workspace, me: Member, cmd: c.Config) -> Message:
    if cmd.key is None:
        channel = ws.settings.get("approvals_channel")
        where = f"#{channel}" if channel else "where each draft was asked"
        return Message(text=f"Approval cards go to {where}.")
    if cmd.key not in {"approvals-channel", "approvals_channel"}:
        raise c.usage_error("config", f'I don\'t know the setting "{cmd.key}".')
    require(me, Action.CONFIGURE)
    value = (cmd.value or "").strip()
    channel = value.lstrip("#") or None
    ws.settings = {**ws.settings, "approvals_channel": channel}
    tx.session.add(
        AuditEvent(
            workspace_id=ws.id,
            actor_id=me.id,
            action="workspace.config",
            detail={"approvals_channel": channel},
            created_at=tx.now,
        )
    )
    if channel is None:
        return Message(text="Approval cards now go where each draft was asked.")
    return Message(text=f"Approval cards now go to #{channel}.")


def skip(ctx: Context, tx: Tx, ws: Workspace, me: Member, cmd: c.Skip) -> Message:
    require(me, Action.SCHEDULE)
    post = find_post(tx, ws, cmd.number, lock=True)
    target = next((t for t in post.targets if t.network == cmd.network), None)
    name = get_network(cmd.network).display
    if target is None:
        raise BadInput(f"#{post.number} is not going to {name}.")
    if not move(
        tx.session,
        target,
        "cancel",
        now=tx.now,
        workspace_id=ws.id,
        actor_id=me.id,
        detail={"skipped": True},
    ):
        raise Conflict(
            f"{name} is already {target.state.value} for #{post.number}; nothing to skip."
        )
    if all(t.state == T.CANCELLED for t in post.targets):
        move(tx.session, post, "cancel", now=tx.now, actor_id=me.id)
        return Message(
            text=f"Skipped {name}; nothing is left of #{post.number}, so it is cancelled."
        )
    return Message(
        text=f"Skipped {name} for #{post.number}; the other networks go on.",
        post_number=post.number,
    )


SLOT_GAP = timedelta(minutes=30)


def free_slot(tx: Tx, ws: Workspace, network: str, after: datetime) -> datetime:
    """The next whole hour, at least 15 minutes away, with no other post on that network
    within half an hour of it (the way a posting schedule spreads posts out)."""
    busy = tx.session.scalars(
        select(Target.scheduled_at)
        .join(Post, Post.id == Target.post_id)
        .where(
            Post.workspace_id == ws.id,
            Target.network == network,
            Target.state.in_([T.SCHEDULED, T.QUEUED]),
            Target.scheduled_at.is_not(None),
        )
    ).all()
    slot = (after + timedelta(minutes=15)).replace(minute=0, second=0, microsecond=0)
    slot += timedelta(hours=1)
    while any(b is not None and abs(b - slot) < SLOT_GAP for b in busy):
        slot += timedelta(hours=1)
    return slot


def next_slot(ctx: Context, tx: Tx, ws: Workspace, me: Member, cmd: c.NextSlot) -> Message:
    post, failed = _failed_targets(tx, ws, me, cmd.number, cmd.network, "move")
    tz = zone_of(me, ws)
    lines = []
    for target in failed:
        slot = free_slot(tx, ws, target.network, tx.now)
        _reschedule(tx, ws, me, target, slot, fresh_attempts=True)
        lines.append(
            f"🗓 #{post.number} {get_network(target.network).display} moves to "
            f"{format_when(slot, tz, now=tx.now)}."
        )
    return Message(text="\n".join(lines), post_number=post.number)
