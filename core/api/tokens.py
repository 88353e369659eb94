"""Personal access tokens for the REST API: `token new|list|revoke` (owners and admins also
`token list all` and `token revoke <name> @person`), and checking one, its rate limit included.

A token acts as the member who made it: the same role checks as in chat (core/permissions.py),
narrowed by its scopes. Only its SHA-256 is stored; the token itself is shown once, privately.
"""

from __future__ import annotations

import enum
import hashlib
import math
import re
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import select

from core.audit import audit
from core.context import Context
from core.errors import BadInput, Forbidden, HeraldError, NotFound
from core.grammar import Words, person
from core.permissions import Action
from core.posts.card import Message
from core.ratelimit import over_limit
from core.registry import Request, Spec
from core.timeparse import format_when
from core.workspace.people import Actor, find_person, zone_of
from storage.models import Member, SurfaceKind, Workspace
from storage.models_api import ApiToken

PREFIX = "hrld_"
SHOWN = 12  # characters of a token `token list` shows: "hrld_" and 7 of the random part
DEFAULT_DAYS = 90
MAX_DAYS = 366
MAX_PER_PERSON = 20  # active tokens: enough for every tool, few enough to review
_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]{0,39}")
_SPAN = re.compile(r"(\d{1,4})([dwy])")
_UNIT_DAYS = {"d": 1, "w": 7, "y": 365}
RATE_WINDOW_SECONDS = 60.0  # HERALD_API_RATE_LIMIT is requests a minute
USAGE = (
    "token new <name> [read,draft,approve] [30d|12w|1y] · token list · token revoke <name> · "
    "token list all · token revoke <name> @person"
)


class Scope(enum.StrEnum):
    READ = "read"  # list and show posts, read stats
    DRAFT = "draft"  # create posts, schedule and cancel them
    APPROVE = "approve"  # approve and reject


class Unauthorized(HeraldError):
    """No token, or one that is unknown, expired or revoked: the API answers 401."""


class TooManyRequests(HeraldError):
    """A token sent more requests this minute than `HERALD_API_RATE_LIMIT`: the API answers
    429, and `retry_after` (whole seconds) goes in its `Retry-After`."""

    def __init__(self, name: str, limit: int, retry_after: float, now: datetime) -> None:
        self.retry_after = max(1, math.ceil(retry_after))
        again = now + timedelta(seconds=self.retry_after)
        super().__init__(
            f'The token "{name}" has sent {limit:,} requests this minute, the most Herald '
            f"takes; this one did nothing. Try again in {self.retry_after} s "
            f"(at {again.strftime('%H:%M:%S')} UTC)."
        )


class ScopeMissing(Forbidden):
    """The token's person may do this, but the token was not made for it."""


# --- the command ----------------------------------------------------------------------------


@dataclass(frozen=True)
class Token:
    action: str  # "new", "list", "revoke"
    name: str | None = None
    scopes: tuple[Scope, ...] = (Scope.READ,)
    days: int = DEFAULT_DAYS
    everyone: bool = False  # `token list all`: the workspace's, not only yours
    user: str | None = None  # `token revoke <name> @person`: whose (a platform id if verified)
    verified: bool = False

    @property
    def of_others(self) -> bool:
        return self.everyone or self.user is not None


def _scopes(word: str, words: Words) -> tuple[Scope, ...]:
    chosen: list[Scope] = []
    for part in word.lower().split(","):
        try:
            scope = Scope(part.strip())
        except ValueError:
            raise words.fail(
                f'"{part}" is not a scope. Scopes: read, draft, approve (comma-separated).'
            ) from None
        if scope not in chosen:
            chosen.append(scope)
    return tuple(sorted(chosen, key=list(Scope).index))


def parse_token(words: Words) -> Token:
    args = words.args
    if not args or args[0].lower() == "list":
        if len(args) == 2 and args[1].lower() == "all":
            return Token("list", everyone=True)
        if len(args) > 1:
            raise words.fail("token list takes nothing more, or all: token list all.")
        return Token("list")
    action = args[0].lower()
    if action not in {"new", "revoke"}:
        raise words.fail(f'I don\'t know "token {args[0]}".')
    if len(args) < 2:
        raise words.fail("Give the token a name, e.g. token new ci read,draft 90d")
    name = args[1]
    if not _NAME.fullmatch(name):
        raise words.fail(
            "A token's name is 1 to 40 letters, digits, dots, dashes or underscores, e.g. ci."
        )
    if action == "revoke":
        if len(args) == 3 and args[2].startswith(("@", "<@")):
            user, verified = person(args[2])
            return Token("revoke", name, user=user, verified=verified)
        if len(args) > 2:
            raise words.fail(
                "token revoke takes the token's name, and the person for someone else's: "
                "token revoke ci @maria."
            )
        return Token("revoke", name)
    scopes: tuple[Scope, ...] = (Scope.READ,)
    days = DEFAULT_DAYS
    rest = args[2:]
    if len(rest) > 2:
        raise words.fail("Too many words after the name.")
    for word in rest:
        span = _SPAN.fullmatch(word.lower())
        if span:
            days = int(span.group(1)) * _UNIT_DAYS[span.group(2)]
            if not 1 <= days <= MAX_DAYS:
                raise words.fail(f"A token lasts from 1 day to {MAX_DAYS - 1} days, e.g. 90d.")
        else:
            scopes = _scopes(word, words)
    return Token("new", name, scopes, days)


def digest(token: str) -> str:
    """What is stored of a token: a token is 256 random bits, so a plain SHA-256 is enough
    (no salt or stretching needed: there is nothing to guess)."""
    return hashlib.sha256(token.encode()).hexdigest()


def _active(r: Request, member: Member | None = None) -> list[ApiToken]:
    """`member`'s live tokens (yours unless said), oldest first."""
    return list(
        r.tx.session.scalars(
            select(ApiToken)
            .where(
                ApiToken.workspace_id == r.ws.id,
                ApiToken.member_id == (member or r.me).id,
                ApiToken.revoked_at.is_(None),
                ApiToken.expires_at > r.tx.now,
            )
            .order_by(ApiToken.id)
        )
    )


def _everyones(r: Request) -> list[tuple[ApiToken, Member]]:
    """Every live token of the workspace with its owner, by owner then age."""
    rows = r.tx.session.execute(
        select(ApiToken, Member)
        .join(Member, Member.id == ApiToken.member_id)
        .where(
            ApiToken.workspace_id == r.ws.id,
            ApiToken.revoked_at.is_(None),
            ApiToken.expires_at > r.tx.now,
        )
        .order_by(Member.display_name, Member.id, ApiToken.id)
    )
    return [(t, m) for t, m in rows]


def _new(r: Request, cmd: Token) -> Message:
    tx, ws, me = r.tx, r.ws, r.me
    assert cmd.name is not None
    if r.actor.shared:
        where = (
            "a direct message with me"
            if r.actor.surface == SurfaceKind.SLACK
            else "a private chat with me"
        )
        raise BadInput(
            f"A token is a password: ask for it in {where}, not here, and I'll answer you alone."
        )
    active = _active(r)
    if any(t.name == cmd.name for t in active):
        raise BadInput(
            f'You already have a token called "{cmd.name}". Pick another name, or revoke it '
            f"first: token revoke {cmd.name}"
        )
    if len(active) >= MAX_PER_PERSON:
        raise BadInput(
            f"You have {MAX_PER_PERSON} tokens already. Revoke one you no longer use: "
            "token revoke <name>"
        )
    token = PREFIX + secrets.token_urlsafe(32)
    expires = tx.now + timedelta(days=cmd.days)
    row = ApiToken(
        workspace_id=ws.id,
        member_id=me.id,
        name=cmd.name,
        prefix=token[:SHOWN],
        digest=digest(token),
        scopes=",".join(cmd.scopes),
        conversation=ws.settings.get("approvals_channel") or r.actor.conversation,
        expires_at=expires,
        created_at=tx.now,
    )
    tx.session.add(row)
    tx.session.flush()
    scopes = ", ".join(cmd.scopes)
    audit(
        tx,
        ws.id,
        "token.new",
        actor_id=me.id,
        detail={"name": cmd.name, "scopes": scopes, "shown": row.prefix, "expires": str(expires)},
    )
    until = format_when(expires, zone_of(me, ws), now=tx.now)
    return Message(
        text=f'🔑 API token "{cmd.name}" ({scopes}), valid until {until}:\n{token}\n'
        "This is the only time I show it: keep it in your tool's secret store. It acts as you, "
        f"with your role. Revoke it any time: token revoke {cmd.name}",
        secret=True,
    )


def _line(r: Request, t: ApiToken) -> str:
    tz = zone_of(r.me, r.ws)
    used = (
        f"last used {format_when(t.last_used_at, tz, now=r.tx.now)}"
        if t.last_used_at
        else "never used"
    )
    until = format_when(t.expires_at, tz, now=r.tx.now)
    return f"{t.name} ({t.scopes.replace(',', ', ')}) {t.prefix}… until {until}, {used}"


def _list(r: Request) -> Message:
    rows = _active(r)
    if not rows:
        return Message(text="You have no API tokens. Make one: token new ci read,draft 90d")
    return Message(text="\n".join(["Your API tokens:", *(f"• {_line(r, t)}" for t in rows)]))


def _list_all(r: Request) -> Message:
    rows = _everyones(r)
    if not rows:
        return Message(text="Nobody here has a live API token.")
    count = f"{len(rows):,} token{'s' if len(rows) != 1 else ''}"
    lines = [f"Every live API token here ({count}; revoke one: token revoke <name> @person):"]
    lines += [f"• @{m.display_name}: {_line(r, t)}" for t, m in rows]
    return Message(text="\n".join(lines))


def _revoke(r: Request, cmd: Token) -> Message:
    owner = r.me
    if cmd.user is not None:
        # Only by the id the platform verified: a display name is anyone's to choose.
        owner = find_person(r.tx, r.ws, cmd.user, cmd.verified, exact=True)
    found = [t for t in _active(r, owner) if t.name == cmd.name]
    theirs = owner.id != r.me.id
    if not found:
        if theirs:
            raise NotFound(
                f'@{owner.display_name} has no active token called "{cmd.name}". '
                "See every token here: token list all"
            )
        raise NotFound(f'You have no active token called "{cmd.name}". See yours: token list')
    for t in found:
        t.revoked_at = r.tx.now
        detail = {"name": t.name, "shown": t.prefix}
        if theirs:  # the same keys as `member.role`, so `forget` finds the person here too
            detail |= {"member": owner.display_name, "member_id": owner.external_id}
        audit(r.tx, r.ws.id, "token.revoke", actor_id=r.me.id, detail=detail)
    whose = f" of @{owner.display_name}" if theirs else ""
    return Message(
        text=f'Revoked the token "{cmd.name}"{whose}. Requests with it are refused from now.'
    )


def token(r: Request, cmd: Token) -> Message:
    if cmd.action == "new":
        return _new(r, cmd)
    if cmd.action == "revoke":
        return _revoke(r, cmd)
    return _list_all(r) if cmd.everyone else _list(r)


def _permission(cmd: Token) -> Action:
    """Your own tokens are yours to manage; the workspace's are for owners and admins."""
    return Action.OTHERS_TOKENS if cmd.of_others else Action.VIEW


COMMANDS: tuple[Spec[Any], ...] = (
    Spec(
        name="token",
        kind=Token,
        usage=USAGE,
        summary="API tokens for your tools",
        detail="A token acts as you, with your role, for the REST API at /api/v1. Scopes: "
        "read (posts, stats), draft (create, schedule, cancel), approve (approve, reject); "
        f"read alone unless you say. It lasts {DEFAULT_DAYS} days unless you say. "
        "I show it once, privately. Owners and admins see every token (token list all) and "
        "revoke anyone's (token revoke ci @person, mentioning them).",
        parse=parse_token,
        handle=token,
        permission=_permission,
        # A new token is a new way in, and revoking another's cuts off their tools: with
        # `policy 2fa on` both take a code.
        sensitive=lambda cmd: cmd.action == "new" or (cmd.action == "revoke" and cmd.of_others),
    ),
)


# --- checking a token -----------------------------------------------------------------------


@dataclass(frozen=True)
class Holder:
    """Who a valid token speaks for: its member as a chat `Actor`, and what it may ask."""

    token_id: int
    member_id: int
    scopes: frozenset[Scope]
    actor: Actor


def _when(instant: datetime) -> str:
    return instant.strftime("%Y-%m-%d %H:%M UTC")


def authenticate(ctx: Context, presented: str | None) -> Holder:
    """The holder of a bearer token, or `Unauthorized` with what to do."""
    if not presented:
        raise Unauthorized(
            "Send your API token: Authorization: Bearer hrld_… Make one in chat: token new ci"
        )
    if not presented.startswith(PREFIX) or len(presented) > 200:
        raise Unauthorized("That is not a Herald API token. Tokens start with hrld_.")
    with ctx.tx() as tx:
        row = tx.session.scalars(
            select(ApiToken).where(ApiToken.digest == digest(presented))
        ).one_or_none()
        if row is None:
            raise Unauthorized(
                "This token is not valid here. Check you copied it whole, or make a new one "
                "in chat: token new <name>"
            )
        if row.revoked_at is not None:
            raise Unauthorized(
                f'The token "{row.name}" was revoked on {_when(row.revoked_at)}. Make a new '
                "one in chat: token new <name>"
            )
        if row.expires_at <= tx.now:
            raise Unauthorized(
                f'The token "{row.name}" expired on {_when(row.expires_at)}. Make a new one in '
                "chat: token new <name>"
            )
        # After the token is known (a stranger's request stays a 401) and before anything is
        # written, its last use included: a refused request leaves no trace.
        limit = ctx.settings.api_rate_limit
        # Ids can come back (a database emptied or restored); the shown prefix tells tokens apart.
        wait = over_limit(ctx.limits, f"api:{row.id}:{row.prefix}", limit, RATE_WINDOW_SECONDS)
        if wait is not None:
            raise TooManyRequests(row.name, limit, wait, tx.now)
        member = tx.session.get(Member, row.member_id)
        ws = tx.session.get(Workspace, row.workspace_id)
        # The token's rows cascade with its member and workspace.
        assert member is not None
        assert ws is not None
        # Once a minute is enough to say when it was last used.
        if row.last_used_at is None or tx.now - row.last_used_at > timedelta(minutes=1):
            row.last_used_at = tx.now
        actor = Actor(
            surface=ws.kind,
            workspace_id=ws.external_id,
            workspace_name=ws.name,
            user_id=member.external_id,
            user_name=member.display_name,
            conversation=row.conversation,
        )
        return Holder(
            token_id=row.id,
            member_id=member.id,
            scopes=frozenset(Scope(s) for s in row.scopes.split(",") if s),
            actor=actor,
        )


_DOING = {Scope.READ: "reading", Scope.DRAFT: "drafting", Scope.APPROVE: "approving"}


def require_scope(holder: Holder, scope: Scope) -> None:
    if scope in holder.scopes:
        return
    has = ", ".join(s.value for s in Scope if s in holder.scopes) or "none"
    raise ScopeMissing(
        f"This token's scopes are {has}; {_DOING[scope]} needs the {scope.value} scope. "
        f"Make a token with it in chat: token new <name> {scope.value}"
    )
