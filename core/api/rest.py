"""What each REST endpoint asks of core, as the token's person: the chat commands' own
handlers through the registry (so the same permission checks), and JSON views of the rows."""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError

from core import registry
from core.analytics import periods, queries
from core.analytics.commands import Stats, parse_stats
from core.analytics.figures import Totals
from core.api.tokens import Holder, Scope, require_scope
from core.approvals.commands import MAX_REASON, Approve, Reject
from core.context import Context
from core.errors import BadInput
from core.grammar import Words, network_name, network_names
from core.permissions import Action, require
from core.posts.card import Message
from core.posts.commands import MAX_BRIEF, Cancel, Draft
from core.registry import Command, Request
from core.sanitize import clean_input
from core.scheduling.commands import Schedule
from core.timeparse import format_when
from core.workspace.people import find_post, resolve, zone_of
from storage.models import Post, PostState
from storage.models_api import ApiIdempotency

MAX_LIST = 100


@dataclass(frozen=True)
class Created:
    """An idempotent create's answer: the first one, again, for a retry with the same key."""

    status: int
    body: dict[str, Any]
    replayed: bool


def _iso(instant: datetime | None) -> str | None:
    return instant.isoformat().replace("+00:00", "Z") if instant else None


def post_view(post: Post, tz: ZoneInfo, now: datetime) -> dict[str, Any]:
    """A post as the API shows it: instants in UTC, and as a person in `tz` reads them."""
    return {
        "number": post.number,
        "state": post.state.value,
        "brief": post.brief,
        "author": post.author.display_name,
        "planned_at": _iso(post.planned_at),
        "planned_local": format_when(post.planned_at, tz, now=now) if post.planned_at else None,
        "problem": post.problem,
        "created_at": _iso(post.created_at),
        "updated_at": _iso(post.updated_at),
        "targets": [
            {
                "network": t.network,
                "state": t.state.value,
                "text": t.text,
                "scheduled_at": _iso(t.scheduled_at),
                "published_at": _iso(t.published_at),
                "url": t.external_url,
                "failure_reason": t.failure_reason,
            }
            for t in post.targets
        ],
    }


def list_posts(
    ctx: Context, holder: Holder, state: PostState | None, limit: int
) -> list[dict[str, Any]]:
    require_scope(holder, Scope.READ)
    with ctx.tx() as tx:
        ws, me = resolve(tx, holder.actor, ctx.settings.timezone)
        require(me, Action.VIEW)
        query = select(Post).where(Post.workspace_id == ws.id)
        if state is not None:
            query = query.where(Post.state == state)
        rows = tx.session.scalars(query.order_by(Post.number.desc()).limit(limit))
        tz = zone_of(me, ws)
        return [post_view(p, tz, tx.now) for p in rows]


def get_post(ctx: Context, holder: Holder, number: int) -> dict[str, Any]:
    require_scope(holder, Scope.READ)
    with ctx.tx() as tx:
        ws, me = resolve(tx, holder.actor, ctx.settings.timezone)
        require(me, Action.VIEW)
        return post_view(find_post(tx, ws, number), zone_of(me, ws), tx.now)


def draft_of(brief: str, networks: list[str] | None, at: str | None) -> Draft:
    """The `draft` command an API body means, held to the same limits as the chat's."""
    text = clean_input(brief).strip()
    if not text:
        raise BadInput("The brief is empty. Say what the post should be about.")
    if len(text) > MAX_BRIEF:
        raise BadInput(
            f"The brief is {len(text):,} characters; the limit is {MAX_BRIEF:,}. "
            "Shorten it or link to the details."
        )
    chosen = network_names(",".join(networks)) if networks else None
    when = clean_input(at).strip() if at else None
    return Draft(brief=text, networks=chosen, when=when or None)


def fingerprint(body: dict[str, Any]) -> str:
    return hashlib.sha256(json.dumps(body, sort_keys=True).encode()).hexdigest()


def create_post(ctx: Context, holder: Holder, cmd: Draft, key: str, print_: str) -> Created:
    """Run `draft` once per (person, key): a retry gets the first answer; another body with
    the same key is refused. The answer is written in the draft's own transaction, so a
    crash leaves both or neither, and two racing requests make one post."""
    require_scope(holder, Scope.DRAFT)
    first = _remembered(ctx, holder, key, print_)
    if first is not None:
        return first

    def remember(r: Request, message: Message) -> None:
        assert message.post_number is not None
        post = find_post(r.tx, r.ws, message.post_number)
        body = {"message": message.text, "post": post_view(post, zone_of(r.me, r.ws), r.tx.now)}
        r.tx.session.add(
            ApiIdempotency(
                member_id=r.me.id,
                key=key,
                fingerprint=print_,
                status=201,
                response=body,
                created_at=r.tx.now,
            )
        )
        r.tx.session.flush()  # a racing twin fails here, and its draft rolls back with it

    try:
        message = registry.commands().run(ctx, holder.actor, cmd, then=remember)
    except IntegrityError:
        again = _remembered(ctx, holder, key, print_)
        if again is None:
            raise
        return again
    assert message.post_number is not None
    return Created(201, _created_body(ctx, holder, key), replayed=False)


def _created_body(ctx: Context, holder: Holder, key: str) -> dict[str, Any]:
    with ctx.tx() as tx:
        row = tx.session.scalars(
            select(ApiIdempotency).where(
                ApiIdempotency.member_id == holder.member_id, ApiIdempotency.key == key
            )
        ).one()
        return dict(row.response)


def _remembered(ctx: Context, holder: Holder, key: str, print_: str) -> Created | None:
    with ctx.tx() as tx:
        row = tx.session.scalars(
            select(ApiIdempotency).where(
                ApiIdempotency.member_id == holder.member_id, ApiIdempotency.key == key
            )
        ).one_or_none()
        if row is None:
            return None
        if row.fingerprint != print_:
            raise KeyReused(
                "This Idempotency-Key was already used for a different request body. "
                "Use a new key for a new post."
            )
        return Created(row.status, dict(row.response), replayed=True)


class KeyReused(BadInput):
    """The same Idempotency-Key with another body: the API answers 422."""


_ACTS: dict[type, Scope] = {
    Approve: Scope.APPROVE,
    Reject: Scope.APPROVE,
    Schedule: Scope.DRAFT,
    Cancel: Scope.DRAFT,
}


def approve(number: int) -> Approve:
    return Approve(number)


def reject(number: int, reason: str | None) -> Reject:
    text = clean_input(reason).strip() if reason else None
    if text and len(text) > MAX_REASON:
        raise BadInput(f"Keep the reason under {MAX_REASON} characters.")
    return Reject(number, text or None)


def cancel(number: int) -> Cancel:
    return Cancel(number)


def schedule(number: int, at: str) -> Schedule:
    when = clean_input(at).strip()
    if not when:
        raise BadInput('Say when, e.g. "tomorrow 9am" or "3 dec 09:00 Europe/Berlin".')
    return Schedule(number, when)


def act(ctx: Context, holder: Holder, cmd: Command) -> dict[str, Any]:
    """Approve, reject, schedule or cancel: the chat command itself, then the post as it is."""
    require_scope(holder, _ACTS[type(cmd)])
    message = registry.commands().run(ctx, holder.actor, cmd)
    number = getattr(cmd, "number")  # noqa: B009 - every command in _ACTS has one
    return {"message": message.text, "post": get_post_unscoped(ctx, holder, number)}


def get_post_unscoped(ctx: Context, holder: Holder, number: int) -> dict[str, Any]:
    with ctx.tx() as tx:
        ws, me = resolve(tx, holder.actor, ctx.settings.timezone)
        return post_view(find_post(tx, ws, number), zone_of(me, ws), tx.now)


def _totals(t: Totals) -> dict[str, Any]:
    return {
        "posts": t.posts,
        "targets": t.targets,
        "impressions": t.impressions,
        "likes": t.likes,
        "reposts": t.reposts,
        "replies": t.replies,
        "quotes": t.quotes,
        "clicks": t.clicks,
        "interactions": t.interactions,
        "engagement_rate": t.engagement_rate,
    }


def stats(ctx: Context, holder: Holder, period: str | None, network: str | None) -> dict[str, Any]:
    """`stats [period] [network]` as figures: the same period words and the same sums."""
    require_scope(holder, Scope.READ)
    words = " ".join(w for w in (period, network) if w)
    cmd = parse_stats(Words(clean_input(words), "period: 7d, 30d, 2026-11-01 to 2026-11-30"))
    if cmd.number is not None or cmd.export:
        raise BadInput('period is a number of days like "30d" or "2026-11-01 to 2026-11-30".')
    chosen = network_name(network) if network else None
    assert isinstance(cmd, Stats)
    with ctx.tx() as tx:
        ws, me = resolve(tx, holder.actor, ctx.settings.timezone)
        require(me, Action.VIEW)
        tz = zone_of(me, ws)
        span = periods.window(cmd.period, tz, tx.now)
        summary = queries.summary(
            tx.session, ws.id, span.start, span.end, tz=tz, network=chosen or cmd.network
        )
        return {
            "start": _iso(span.start),
            "end": _iso(span.end),
            "during": span.during,
            "network": chosen or cmd.network,
            "totals": _totals(summary.totals),
            "by_network": {n: _totals(t) for n, t in summary.by_network.items()},
            "top": [{"number": p.number, **_totals(p.totals)} for p in summary.top],
        }
