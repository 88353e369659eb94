"""What people ask of the schedule: schedule, and after a failure retry, slot, skip, posted."""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from core.analytics import store as analytics
from core.context import Tx
from core.errors import BadInput, Conflict
from core.grammar import Words, network_name, optional_network, unquote
from core.jobs import Job
from core.networks import get_network
from core.permissions import Action
from core.posts.card import Message, asking, asking_cleared, build_card, networks_phrase
from core.posts.lifecycle import move
from core.posts.queries import STATE_WORDS, status_line
from core.registry import Request, Spec
from core.scheduling import best
from core.scheduling.queries import free_slot
from core.scheduling.when import Planned, plan
from core.timeparse import format_when
from core.workspace.people import find_post, zone_of
from storage.models import Member, Post, PostState, Target, TargetState, Workspace

P, T = PostState, TargetState


@dataclass(frozen=True)
class Schedule:
    number: int
    when: str


@dataclass(frozen=True)
class Retry:
    number: int
    network: str | None = None


@dataclass(frozen=True)
class Posted:
    """A person's answer to "Did this go out?": yes, it is up (at `url`, if they have it)."""

    number: int
    network: str
    url: str | None = None


@dataclass(frozen=True)
class Skip:
    number: int
    network: str


@dataclass(frozen=True)
class NextSlot:
    number: int
    network: str | None = None


_CONNECTOR = re.compile(r"^(?:for|to|at|on)\s+", re.IGNORECASE)


def parse_schedule(words: Words) -> Schedule:
    number = words.number()
    # "schedule 1 for tomorrow at 10am": the connector is English, not part of the time.
    when = unquote(_CONNECTOR.sub("", words.after_first()))
    if not when:
        raise words.fail('When? e.g. schedule 12 "tomorrow 9am".')
    return Schedule(number=number, when=when)


def _number_and_network(words: Words, missing: str) -> tuple[int, str]:
    number = words.number()
    args = words.args
    if len(args) < 2:
        raise words.fail(missing)
    return number, network_name(args[1])


def parse_posted(words: Words) -> Posted:
    number, net = _number_and_network(words, "Which network is it up on?")
    args = words.args
    link = args[2] if len(args) > 2 else None
    if link is not None and not re.fullmatch(r"https?://\S+", link, re.IGNORECASE):
        raise words.fail("The link should start with https://, or leave it out.")
    return Posted(number=number, network=net, url=link)


def parse_skip(words: Words) -> Skip:
    number, net = _number_and_network(words, "Which network should be left out?")
    return Skip(number=number, network=net)


def _reschedule(
    tx: Tx, ws: Workspace, me: Member, target: Target, at: datetime, *, fresh_attempts: bool = False
) -> None:
    """Move a scheduled or failed target to `at`; after a failure, a fresh attempt budget."""
    values: dict[str, Any] = {"scheduled_at": at, "failure_reason": None}
    if fresh_attempts:
        values["attempts"] = 0
    move(tx.session, target, "reschedule", now=tx.now, workspace_id=ws.id, actor_id=me.id, **values)


def schedule(r: Request, cmd: Schedule) -> Message:
    tx, ws, me = r.tx, r.ws, r.me
    tz = zone_of(me, ws)
    picking = best.wanted(cmd.when)
    planned = None if picking else plan(cmd.when, tz, tx.now, cmd.number)
    post = find_post(tx, ws, cmd.number, lock=True)
    if post.state in {P.REJECTED, P.CANCELLED}:
        raise Conflict(f"#{post.number} {STATE_WORDS[post.state]}; edit it before scheduling.")
    movable = [t for t in post.targets if t.state in {T.SCHEDULED, T.FAILED}]
    if post.state == P.APPROVED and not movable:
        raise Conflict(f"#{post.number} has nothing left to schedule: show {post.number}")
    if planned is not None:
        return _at(r, post, movable, planned)
    going = movable if post.state == P.APPROVED else post.targets
    networks = [t.network for t in going if t.state != T.CANCELLED]
    slot = best.choose(tx, ws, networks, tz, post=post.id)
    best.remember(tx, ws, me, post, slot)
    post.planned_at = slot.at
    for target in movable:
        _reschedule(tx, ws, me, target, slot.at)
    when = f"{format_when(slot.at, tz, now=tx.now)}, {slot.why}"
    if post.state == P.APPROVED:
        text = f"🗓 #{post.number} will go out {when}."
    else:
        text = f"🗓 #{post.number} is planned for {when}, once approved."
    # The card shows why, on every surface (Slack redraws it in place).
    card = build_card(
        post,
        tz=tz,
        now=tx.now,
        status=status_line(post, tz, tx.now),
        note=best.note_text(slot),
    )
    return Message(text=text, card=card, post_number=post.number)


def _at(r: Request, post: Post, movable: list[Target], planned: Planned) -> Message:
    """`schedule <n> <when>`: a time someone typed."""
    tx, ws, me = r.tx, r.ws, r.me
    # "now" plans nothing: an approved post goes at the next tick, a pending one once approved.
    post.planned_at = None if planned.now else planned.instant
    for target in movable:
        _reschedule(tx, ws, me, target, planned.instant)
    note = f" {planned.note}" if planned.note else ""
    if planned.now and post.state == P.APPROVED:
        tx.later(Job.DISPATCH)
        return Message(text=f"🗓 #{post.number} goes out now.", post_number=post.number)
    if planned.now:
        return Message(
            text=f"🗓 #{post.number} will go out as soon as it is approved.",
            post_number=post.number,
        )
    if post.state == P.APPROVED:
        return Message(
            text=f"🗓 #{post.number} will go out {planned.shown}.{note}", post_number=post.number
        )
    return Message(
        text=f"🗓 #{post.number} is planned for {planned.shown}, once approved.{note}",
        post_number=post.number,
    )


def _failed_targets(
    tx: Tx, ws: Workspace, number: int, network: str | None, verb: str
) -> tuple[Post, list[Target]]:
    """The post's failed targets (one network's, if named), or a refusal saying there are none."""
    post = find_post(tx, ws, number, lock=True)
    failed = [
        t for t in post.targets if t.state == T.FAILED and (network is None or t.network == network)
    ]
    if post.state != P.APPROVED or not failed:
        raise Conflict(f"#{number} has no failed network to {verb}. See: show {number}")
    return post, failed


def retry(r: Request, cmd: Retry) -> Message:
    tx, ws, me = r.tx, r.ws, r.me
    _, failed = _failed_targets(tx, ws, cmd.number, cmd.network, "retry")
    for target in failed:
        _reschedule(tx, ws, me, target, tx.now, fresh_attempts=True)
    tx.later(Job.DISPATCH)
    return Message(
        text=f"Retrying #{cmd.number} on {networks_phrase([t.network for t in failed])} now.",
        post_number=cmd.number,
    )


def next_slot(r: Request, cmd: NextSlot) -> Message:
    tx, ws, me = r.tx, r.ws, r.me
    post, failed = _failed_targets(tx, ws, cmd.number, cmd.network, "move")
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


def posted(r: Request, cmd: Posted) -> Message:
    """ "Yes, it's up": the post Herald could not check went out; no second post is made."""
    tx, ws, me = r.tx, r.ws, r.me
    post = find_post(tx, ws, cmd.number, lock=True)
    name = get_network(cmd.network).display
    target = next((t for t in post.targets if t.network == cmd.network and asking(t)), None)
    if target is None:
        raise Conflict(
            f"#{cmd.number} has no {name} post waiting for that answer. See: show {cmd.number}"
        )
    moved = move(
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
    if moved:
        # Its figures count from now; with no post id to ask the network by, none are read
        # back (core.analytics.jobs closes its snapshots).
        analytics.published(tx.session, target, first=True)
    where = f": {cmd.url}" if cmd.url else " (no link given)"
    return Message(
        text=f"🚀 #{cmd.number} marked published on {name}{where}.", post_number=cmd.number
    )


def skip(r: Request, cmd: Skip) -> Message:
    tx, ws, me = r.tx, r.ws, r.me
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


COMMANDS: tuple[Spec[Any], ...] = (
    Spec(
        name="schedule",
        kind=Schedule,
        usage="schedule <n> <when> · schedule <n> best",
        summary="set when a post goes out",
        detail='e.g. "tomorrow 9am", "in 2h"; best picks the best free hour of the coming '
        "week from how your posts did.",
        parse=parse_schedule,
        handle=schedule,
        permission=Action.SCHEDULE,
        menu=True,
    ),
    Spec(
        name="retry",
        kind=Retry,
        usage="retry <n> [network]",
        summary="try a failed network again",
        parse=lambda w: Retry(number=w.number(), network=optional_network(w.args, 1)),
        handle=retry,
        permission=Action.SCHEDULE,
        menu=True,
    ),
    Spec(
        name="posted",
        kind=Posted,
        usage="posted <n> <network> [link]",
        summary="confirm a post Herald couldn't check",
        detail="Say it did go out, when Herald asks; nothing is posted again.",
        parse=parse_posted,
        handle=posted,
        permission=Action.SCHEDULE,  # whoever may retry may answer instead
    ),
    Spec(
        name="skip",
        kind=Skip,
        usage="skip <n> <network>",
        summary="leave one network out of a post",
        parse=parse_skip,
        handle=skip,
        permission=Action.SCHEDULE,
    ),
    Spec(
        name="slot",
        kind=NextSlot,
        usage="slot <n> [network]",
        summary="move a failed network to a free slot",
        parse=lambda w: NextSlot(number=w.number(), network=optional_network(w.args, 1)),
        handle=next_slot,
        permission=Action.SCHEDULE,
    ),
)
