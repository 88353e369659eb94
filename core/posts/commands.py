"""What people ask of posts: draft, queue, show, edit, regenerate, cancel, attach."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any
from zoneinfo import ZoneInfo

from core import media
from core.audit import audit
from core.context import Context, Tx
from core.errors import BadInput, Conflict
from core.grammar import Words, network_name, network_names, numbered, unquote
from core.jobs import Job
from core.networks import get_network
from core.permissions import Action
from core.posts.card import Message, build_card, networks_phrase, when_text
from core.posts.lifecycle import move
from core.posts.queries import STATE_WORDS, history, queue_lines, status_line
from core.publishing import pause
from core.registry import Request, Spec
from core.scheduling import best
from core.scheduling.when import plan
from core.ssrf import Refused
from core.timeparse import format_when
from core.workspace.people import find_post, next_post_number, zone_of
from storage.models import Member, Post, PostState, Target, TargetState, Workspace

P, T = PostState, TargetState
MAX_BRIEF = 4000


@dataclass(frozen=True)
class Draft:
    brief: str
    networks: tuple[str, ...] | None = None
    when: str | None = None


@dataclass(frozen=True)
class Queue:
    pass


@dataclass(frozen=True)
class Show:
    number: int


@dataclass(frozen=True)
class Edit:
    number: int
    network: str
    text: str


@dataclass(frozen=True)
class Regenerate:
    number: int
    feedback: str | None = None


@dataclass(frozen=True)
class Cancel:
    number: int


@dataclass(frozen=True)
class Attach:
    number: int
    source: str
    alt: str | None = None


# --- parsers -----------------------------------------------------------------------------------


def parse_draft(words: Words) -> Draft:
    brief, options = words.options()
    brief = unquote(brief)
    if not brief:
        raise words.fail("What should the post be about? Give a brief, e.g. draft Our API is live.")
    if len(brief) > MAX_BRIEF:
        raise BadInput(
            f"The brief is {len(brief):,} characters; the limit is {MAX_BRIEF:,}. "
            "Shorten it or link to the details."
        )
    chosen = network_names(options["to"]) if "to" in options else None
    return Draft(brief=brief, networks=chosen, when=options.get("at"))


def parse_edit(words: Words) -> Edit:
    number = words.number()
    parts = words.rest.split(maxsplit=2)
    if len(parts) < 3:
        raise words.fail("Say which network and give the new text.")
    return Edit(number=number, network=network_name(parts[1]), text=unquote(parts[2]))


def parse_attach(words: Words) -> Attach:
    number = words.number()
    parts = words.rest.split(maxsplit=2)
    if len(parts) < 2:
        raise words.fail("Give the URL of an image or video.")
    return Attach(number=number, source=parts[1], alt=parts[2] if len(parts) > 2 else None)


# --- handlers ----------------------------------------------------------------------------------


def _ensure_networks(ctx: Context, tx: Tx, ws: Workspace, wanted: tuple[str, ...]) -> None:
    ready = sorted(n for n, p in ctx.publishers.items() if p.is_connected(tx.session, ws.id))
    missing = [n for n in wanted if n not in ready]
    if missing:
        available = ", ".join(ready) or "none"
        names = networks_phrase(missing)
        raise BadInput(
            f"{names} {'is' if len(missing) == 1 else 'are'} not connected here yet. "
            f"Networks you can post to now: {available}. Connect one with: connect <network>"
        )


def draft(r: Request, cmd: Draft) -> Message:
    ctx, tx, ws, me = r.ctx, r.tx, r.ws, r.me
    chosen = cmd.networks or tuple(n for n in ws.default_networks.split(",") if n)
    _ensure_networks(ctx, tx, ws, chosen)
    tz = zone_of(me, ws)
    slot = best.choose(tx, ws, chosen, tz) if best.wanted(cmd.when) else None
    when = plan(cmd.when, tz, tx.now, None) if cmd.when and slot is None else None
    # "now" plans nothing: the post goes once approved.
    planned = None if when is None or when.now else when.instant
    if slot is not None:
        planned = slot.at
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
        conversation=ws.settings.get("approvals_channel") or r.actor.conversation,
        generator=ctx.generator.label,
        created_at=tx.now,
        updated_at=tx.now,
    )
    post.targets = [
        Target(network=n, text="", warnings={}, state=T.DRAFT, state_changed_at=tx.now)
        for n in chosen
    ]
    tx.session.add(post)
    tx.session.flush()
    audit(
        tx,
        ws.id,
        "post.create",
        actor_id=me.id,
        post_id=post.id,
        to_state=P.GENERATING.value,
        detail={"networks": list(chosen)},
    )
    if slot is not None:
        best.remember(tx, ws, me, post, slot)
    tx.later(Job.GENERATE, post.id)
    if slot is not None:
        at = f" for {when_text(slot.at, tz, tx.now)}, {slot.why}"
    else:
        at = f" for {when.shown}" if when and planned else ""
    note = f"\n{when.note}" if when and when.note else ""
    return Message(
        text=f"Drafting #{number} for {networks_phrase(list(chosen))}{at}…{note}",
        post_number=number,
    )


def queue(r: Request, cmd: Queue) -> Message:
    tz = zone_of(r.me, r.ws)
    lines = queue_lines(r.tx, r.ws, tz)
    held = pause.active(r.tx.session, r.ws.id, r.tx.now)
    first = [pause.describe(held, tz, r.tx.now)] if held else []
    if not lines:
        return Message(
            text="\n".join([*first, "Nothing is waiting. Start one: draft <brief> --to outbox"])
        )
    return Message(text="\n".join([*first, *lines]))


def show(r: Request, cmd: Show) -> Message:
    post = find_post(r.tx, r.ws, cmd.number)
    tz = zone_of(r.me, r.ws)
    status = status_line(post, tz, r.tx.now)
    card = build_card(post, tz=tz, now=r.tx.now, status=status, note=best.note(r.tx, post))
    lines = history(r.tx, post, tz)
    return Message(
        text="History:\n" + "\n".join(lines), card=card, post_number=cmd.number, whole=True
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


def _changed(post: Post) -> Conflict:
    return Conflict(f"#{post.number} changed a moment ago; look at it again: show {post.number}")


def _passed_time(tx: Tx, post: Post, tz: ZoneInfo) -> str | None:
    """What to say when a post goes back for approval after its planned time (it expired, or
    was rejected or failed meanwhile): the time is cleared by the caller, or the next
    deadlines tick would expire it again and an approval would publish it at once, late.
    None when its time is still to come, or it has none."""
    at = post.planned_at
    if at is None or at > tx.now:
        return None
    return (
        f"Its time, {format_when(at, tz, now=tx.now)}, has passed: it goes out as soon as it "
        f"is approved, or set one with schedule {post.number} <when>."
    )


def edit(r: Request, cmd: Edit) -> Message:
    tx, ws, me = r.tx, r.ws, r.me
    post = find_post(tx, ws, cmd.number, lock=True)
    target = next((t for t in post.targets if t.network == cmd.network), None)
    net = get_network(cmd.network)
    if target is None:
        raise BadInput(
            f"#{post.number} is not going to {net.display}. It is for "
            f"{networks_phrase([t.network for t in post.targets])}."
        )
    if post.state in {P.GENERATING, P.CANCELLED}:
        raise Conflict(f"#{post.number} {STATE_WORDS[post.state]}, so it can't be edited now.")
    if target.state == T.PUBLISHED:
        raise Conflict(f"#{post.number} is already published on {net.display}.")
    if not cmd.text.strip():
        raise BadInput(f"The new {net.display} text is empty. Give the text after the network.")
    problem = net.problem(cmd.text)
    if problem is not None:
        raise BadInput(f"{problem} Then try again.")
    _back_to_draft(tx, ws, me, post)
    before = target.text
    # The new text replaces the whole variant: an X thread's later posts go with the old text,
    # or they would still be published after the edited first one.
    dropped = len(target.parts or [])
    tz = zone_of(me, ws)
    passed = _passed_time(tx, post, tz)
    target.text = cmd.text
    target.parts = []
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
        **({"planned_at": None} if passed else {}),
    ):
        raise _changed(post)
    tx.session.refresh(post)
    thread = (
        f"The {net.display} thread is now this one post; its other {dropped} went with the "
        "old text."
        if dropped
        else None
    )
    card = build_card(
        post,
        tz=tz,
        now=tx.now,
        status=f"✏️ Edited by @{me.display_name} · waiting for approval",
        note="\n".join(n for n in (passed, thread) if n) or None,
    )
    return Message(card=card, post_number=post.number)


def regenerate(r: Request, cmd: Regenerate) -> Message:
    tx, ws, me = r.tx, r.ws, r.me
    post = find_post(tx, ws, cmd.number, lock=True)
    if post.state in {P.GENERATING, P.CANCELLED}:
        raise Conflict(f"#{post.number} {STATE_WORDS[post.state]}, so it can't be redrafted now.")
    if any(t.state == T.PUBLISHED for t in post.targets):
        raise Conflict(f"#{post.number} is already published; draft a new post instead.")
    _back_to_draft(tx, ws, me, post)
    passed = _passed_time(tx, post, zone_of(me, ws))
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
        generator=r.ctx.generator.label,
        **({"planned_at": None} if passed else {}),
    ):
        raise _changed(post)
    tx.later(Job.GENERATE, post.id)
    hint = f" ({cmd.feedback})" if cmd.feedback else ""
    more = f"\n{passed}" if passed else ""
    return Message(text=f"Drafting #{post.number} again{hint}…{more}", post_number=post.number)


def cancel(r: Request, cmd: Cancel) -> Message:
    tx, ws, me, number = r.tx, r.ws, r.me, cmd.number
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


def attach(r: Request, cmd: Attach) -> Message:
    post = find_post(r.tx, r.ws, cmd.number, lock=True)
    media.editable(post)
    try:
        data, _, _ = r.ctx.need_hub().fetcher.fetch(cmd.source)
    except Refused as exc:
        raise BadInput(f"I can't fetch {cmd.source}: {exc}.") from None
    return media.attach_bytes(
        r.ctx, r.tx, r.ws, r.me, cmd.number, data, alt=cmd.alt, source=cmd.source
    )


COMMANDS: tuple[Spec[Any], ...] = (
    Spec(
        name="draft",
        kind=Draft,
        usage="draft <brief> [--to x,linkedin,...] [--at <when>|best]",
        summary="write a post from a brief",
        detail="It goes to the networks you name, or the workspace's usual ones. "
        "--at best picks the best free hour of the coming week from how your posts did.",
        parse=parse_draft,
        handle=draft,
        permission=Action.DRAFT,
        menu=True,
    ),
    Spec(
        name="queue",
        kind=Queue,
        usage="queue",
        summary="what is waiting, soonest first",
        detail="Pending, approved and scheduled posts.",
        parse=lambda _: Queue(),
        handle=queue,
        aliases=("list",),
        menu=True,
    ),
    Spec(
        name="show",
        kind=Show,
        usage="show <n>",
        summary="one post, every network, its history",
        parse=numbered(Show),
        handle=show,
        menu=True,
    ),
    Spec(
        name="edit",
        kind=Edit,
        usage="edit <n> <network> <text>",
        summary="replace one network's text",
        detail="An approved post goes back to waiting for approval.",
        parse=parse_edit,
        handle=edit,
        permission=Action.EDIT,
        menu=True,
    ),
    Spec(
        name="regenerate",
        kind=Regenerate,
        usage="regenerate <n> [feedback, e.g. shorter]",
        summary="draft the text again, with feedback",
        parse=lambda w: Regenerate(number=w.number(), feedback=w.after_first() or None),
        handle=regenerate,
        permission=Action.REGENERATE,
        menu=True,
    ),
    Spec(
        name="cancel",
        kind=Cancel,
        usage="cancel <n>",
        summary="stop a post before it is published",
        parse=numbered(Cancel),
        handle=cancel,
        permission=Action.CANCEL,
        menu=True,
    ),
    Spec(
        name="attach",
        kind=Attach,
        usage="attach <n> <image or video URL> [alt text]",
        summary="attach an image or video to a draft",
        parse=parse_attach,
        handle=attach,
        permission=Action.EDIT,
    ),
)
