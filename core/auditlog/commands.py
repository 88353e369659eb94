"""What people ask of the audit log: `audit [#n|@user|since <when>]` (the newest rows),
`audit export [period]` (a CSV file), and `forget @user` (owners: erase a person).

The log is for owners and admins: it names who did what. Rows show the person's name, the
surface, the action, the state change and the detail; times in the reader's zone with UTC.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from datetime import UTC, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from core.analytics import periods
from core.analytics.periods import Period
from core.audit import audit
from core.auditlog import erasure, queries
from core.errors import BadInput, Conflict, Forbidden
from core.grammar import Words, person
from core.permissions import Action
from core.posts.card import Attachment, Message, cut
from core.registry import Request, Spec
from core.timeparse import TimeParseError, format_when, parse_when
from core.workspace.people import find_person, find_post, zone_of
from storage.auditchain import FORGET
from storage.models import Role

SHOWN = 20  # rows `audit` shows: a screen's worth; the file has them all
_POST = re.compile(r"#?(\d{1,9})")


@dataclass(frozen=True)
class Audit:
    """`audit`, `audit #n`, `audit @user` (`verified`: a surface's mention), `audit since
    <when>`, `audit export [period]`."""

    number: int | None = None
    user: str | None = None
    verified: bool = False
    since: str | None = None
    export: bool = False
    period: Period = field(default_factory=Period)


@dataclass(frozen=True)
class Forget:
    user: str
    verified: bool = False


def parse_audit(words: Words) -> Audit:
    args = words.args
    if not args:
        return Audit()
    head = args[0].lower()
    if head == "export":
        period, network = periods.parse(words, args[1:])
        if network is not None:
            raise words.fail(f'The audit log is not by network; leave out "{network}".')
        return Audit(export=True, period=period)
    if head == "since":
        if len(args) < 2:
            raise words.fail('Say since when, e.g. audit since "yesterday 9am".')
        return Audit(since=" ".join(args[1:]).strip("\"'"))
    if len(args) > 1:
        raise words.fail("Give one filter: a post (#12), a person (@maria) or since <when>.")
    post = _POST.fullmatch(head)
    if post:
        return Audit(number=int(post.group(1)))
    if args[0].startswith(("@", "<@")):
        user, verified = person(args[0])
        return Audit(user=user, verified=verified)
    raise words.fail(f'"{args[0]}" is not a post (#12), a person (@maria) or since <when>.')


def parse_forget(words: Words) -> Forget:
    args = words.args
    if len(args) != 1:
        raise words.fail("Name one person: forget @maria.")
    user, verified = person(args[0])
    return Forget(user=user, verified=verified)


_AGO = re.compile(r"(\d{1,5})\s*(m|min|mins|h|hours?|d|days?|w|weeks?)(\s+ago)?")
_UNITS = {"m": "minutes", "h": "hours", "d": "days", "w": "weeks"}
SINCE_EXAMPLES = 'e.g. audit since 24h, audit since yesterday or audit since "2026-12-01 09:00"'


def read_since(text: str, *, now: datetime, tz: ZoneInfo) -> datetime:
    """A moment in the past: "24h" or "3 days ago", "today", "yesterday", or a date and
    time as everywhere else (read in the person's zone)."""
    word = text.strip().lower()
    ago = _AGO.fullmatch(word)
    if ago:
        unit = _UNITS[ago.group(2)[0]]
        return now - timedelta(**{unit: int(ago.group(1))})
    if word in ("today", "yesterday"):
        day = now.astimezone(tz).date() - timedelta(days=1 if word == "yesterday" else 0)
        return datetime.combine(day, time(0), tzinfo=tz).astimezone(UTC)
    try:
        moment = parse_when(text, now=now, tz=tz)
    except TimeParseError:
        raise BadInput(
            f'I can\'t read "{cut(text, 40)}" as a time. Say {SINCE_EXAMPLES}.'
        ) from None
    if moment > now:
        raise BadInput(
            f'"{cut(text, 40)}" is in the future. Say a time before now, {SINCE_EXAMPLES}.'
        )
    return moment


def _detail(line: queries.Line) -> str:
    if not line.detail:
        return ""
    return " · " + cut(json.dumps(line.detail, sort_keys=True, ensure_ascii=False), 120)


def show_audit(r: Request, cmd: Audit) -> Message:
    tx, ws, tz = r.tx, r.ws, zone_of(r.me, r.ws)
    if cmd.export:
        return export_audit(r, cmd)
    post_id = actor_id = None
    since = None
    about = ""
    if cmd.number is not None:
        post_id, about = find_post(tx, ws, cmd.number).id, f" for #{cmd.number}"
    if cmd.user is not None:
        member = find_person(r.tx, r.ws, cmd.user, cmd.verified, exact=False)
        actor_id, about = member.id, f" by @{member.display_name}"
    if cmd.since is not None:
        since = read_since(cmd.since, now=tx.now, tz=tz)
        about = f" since {format_when(since, tz, now=tx.now)}"
    found = queries.lines(
        tx.session,
        ws.id,
        ws.kind.value,
        post_id=post_id,
        actor_id=actor_id,
        since=since,
        limit=SHOWN,
    )
    if not found:
        return Message(text=f"The audit log has nothing{about}.")
    head = f"🧾 Audit log{about}, newest first ({len(found)} shown; audit export for a file):"
    rows = []
    for line in found:
        who = f"@{line.actor}" if line.actor else "Herald"
        post = f" #{line.post}" if line.post is not None else ""
        states = f" {line.from_state or '·'} → {line.to_state}" if line.to_state else ""
        seq = f"{line.seq} · " if line.seq is not None else ""
        when = format_when(line.at, tz, now=tx.now)
        rows.append(
            f"{seq}{when} · {who} ({line.surface}) · {line.action}{post}{states}{_detail(line)}"
        )
    return Message(text="\n".join([head, *rows]))


def export_audit(r: Request, cmd: Audit) -> Message:
    tx, ws, tz = r.tx, r.ws, zone_of(r.me, r.ws)
    span = periods.window(cmd.period, tz, tx.now)
    found = queries.lines(tx.session, ws.id, ws.kind.value, since=span.start, until=span.end)
    if not found:
        return Message(text=f"The audit log has nothing {span.during}.\n" + span.span(tz, tx.now))
    rows = f"{len(found):,} row{'s' if len(found) != 1 else ''}"
    return Message(
        text=f"📄 The audit log {span.during}, as CSV: {rows}, oldest first, with each row's "
        "hash. Times in the file are UTC.\n" + span.span(tz, tx.now),
        files=(
            Attachment(
                f"herald-audit-{span.slug}.csv",
                "text/csv",
                queries.to_csv(found),
                f"Herald audit log, {span.title} (CSV)",
            ),
        ),
    )


def forget_person(r: Request, cmd: Forget) -> Message:
    tx, ws, me = r.tx, r.ws, r.me
    if me.role != Role.OWNER:
        raise Forbidden(
            f"You are {'an' if me.role.value[0] in 'aeiou' else 'a'} {me.role.value} here, "
            "and only owners can forget a person. Ask an owner."
        )
    member = find_person(r.tx, r.ws, cmd.user, cmd.verified, exact=True)
    if member.id == me.id:
        raise Conflict("You can't forget yourself here. Ask another owner to do it.")
    if member.external_id == erasure.pseudonym(member):
        return Message(text=f"@{member.display_name} was already forgotten.")
    redacted = erasure.forget(tx.session, member, now=tx.now)
    alias = erasure.pseudonym(member)
    audit(
        tx,
        ws.id,
        FORGET,
        actor_id=me.id,
        detail={"member_id": member.id, "pseudonym": alias, "redacted_seqs": redacted},
    )
    return Message(
        text=f"Forgotten: their name and id are replaced by {alias} in posts, messages and "
        f"the audit log ({len(redacted):,} audit row{'s' if len(redacted) != 1 else ''} "
        "redacted; the chain still verifies). Their role is now viewer."
    )


COMMANDS: tuple[Spec[Any], ...] = (
    Spec(
        name="audit",
        kind=Audit,
        usage="audit · audit #<n> · audit @<person> · audit since <when> · audit export [period]",
        summary="who changed what (admins)",
        parse=parse_audit,
        handle=show_audit,
        permission=Action.CONFIGURE,
        detail=(
            f"Shows the newest {SHOWN} rows, or those of one post, one person or since a "
            "time. audit export 30d sends the whole period as a CSV file, each row with its "
            "hash (herald audit verify checks the chain)."
        ),
    ),
    Spec(
        name="forget",
        kind=Forget,
        usage="forget @<person>",
        summary="erase a person's data (owners)",
        parse=parse_forget,
        handle=forget_person,
        permission=Action.CONFIGURE,
        detail=(
            "Replaces their name and platform id with a pseudonym (person-7) everywhere, the "
            "audit log included, which still verifies. Their role becomes viewer."
        ),
    ),
)
