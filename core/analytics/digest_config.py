"""`config digest`: the weekday and hour of the weekly digest, in the workspace's time zone,
or off. The `config` command (core.workspace.commands) parses with `parse`, shows with
`describe` and, for admins, changes with `change`."""

from __future__ import annotations

import re
from dataclasses import dataclass

from core.analytics.digest import DAY_NAMES, Plan, next_due, plan_of, where
from core.audit import audit
from core.context import Tx
from core.grammar import Words
from core.posts.card import Message
from core.timeparse import format_when
from core.workspace.people import zone_of
from storage.models import Member, Workspace
from storage.models_analytics import DigestSetting

EXAMPLE = "config digest monday 9am"
# Any prefix of three letters or more names the day, as in times: "tue", "thurs"; a plural
# ("mondays") too.
_DAYS = {name[:n].lower(): i for i, name in enumerate(DAY_NAMES) for n in range(3, len(name) + 1)}
_FILLER = {"every", "on", "at"}
_CLOCK = re.compile(r"(\d{1,2})(?::(\d{2}))?(?:([ap])\.?m\.?)?")
_NAMED = {"noon": 12, "midday": 12, "midnight": 0}
_HALVES = {"am", "pm", "a.m.", "p.m."}


@dataclass(frozen=True)
class DigestChoice:
    """What `config digest …` asks for: off, on again (day and hour kept), or a day and hour."""

    enabled: bool
    weekday: int | None = None
    hour: int | None = None


def parse(text: str | None, words: Words) -> DigestChoice | None:
    """`monday 9am`, `tue 17:00`, `off`, `on`; None (show the setting) for nothing."""
    tokens = (text or "").lower().replace(",", " ").split()
    if not tokens:
        return None
    if tokens == ["off"]:
        return DigestChoice(enabled=False)
    if tokens == ["on"]:
        return DigestChoice(enabled=True)
    tokens = [t for t in tokens if t not in _FILLER]
    days = [t for t in tokens if _day(t) is not None]
    if not days:
        unknown = [t for t in tokens if not (_CLOCK.fullmatch(t) or t in _NAMED or t in _HALVES)]
        what = f'I don\'t know the day "{unknown[0]}".' if unknown else "Which day?"
        raise words.fail(f"{what} Say monday … sunday (or mon, tue …), e.g. {EXAMPLE}.")
    if len(days) > 1:
        raise words.fail("The digest goes out once a week: name one day.")
    clock = "".join(t for t in tokens if t != days[0])
    if not clock:
        raise words.fail(f"At what hour? e.g. {EXAMPLE} or config digest tue 17:00.")
    return DigestChoice(enabled=True, weekday=_day(days[0]), hour=_hour(clock, words))


def _day(token: str) -> int | None:
    found = _DAYS.get(token)
    if found is None and token.endswith("s"):
        found = _DAYS.get(token[:-1])
    return found


def _hour(raw: str, words: Words) -> int:
    """A whole hour of the day from "9am", "5 pm", "17:00", "noon"; anything else refused
    with what to write instead."""
    if raw in _NAMED:
        return _NAMED[raw]
    match = _CLOCK.fullmatch(raw)
    if match is None:
        raise words.fail(f'I can\'t read "{raw}" as an hour. Say 9am, 5pm or 17:00.')
    hour, minutes, half = int(match[1]), match[2], match[3]
    if half:
        if not 1 <= hour <= 12:
            raise words.fail(f'"{raw}" isn\'t an hour: with am/pm the hour goes from 1 to 12.')
        hour = hour % 12 + (12 if half == "p" else 0)
    elif hour > 23:
        raise words.fail(f'"{raw}" isn\'t an hour: the hour goes from 0 to 23.')
    elif minutes is None and 1 <= hour <= 12:
        raise words.fail(f'Is "{raw}" am or pm? Say {hour}am, {hour}pm or {hour + 12}:00.')
    if minutes is not None and int(minutes) != 0:
        raise words.fail(f'The digest goes out on the hour: say {hour:02d}:00, not "{raw}".')
    return hour


def describe(tx: Tx, ws: Workspace, me: Member) -> str:
    """The setting in one line: when (in the workspace's zone), where, and the next one in
    the asker's zone with UTC."""
    plan = plan_of(tx.session, ws.id)
    if not plan.enabled:
        return f"📊 The weekly digest is off. Turn it on: {EXAMPLE}"
    return f"📊 The weekly digest goes out {_when(tx, ws, me, plan)}."


def _when(tx: Tx, ws: Workspace, me: Member, plan: Plan) -> str:
    home, mine = zone_of(None, ws), zone_of(me, ws)
    zone = home.key if home.key == mine.key else f"{home.key}, the workspace's time zone"
    place = ws.settings.get("approvals_channel")
    if place:
        to = f"#{place}"
    elif where(tx.session, ws) is not None:
        to = "where the latest draft was asked"
    else:
        to = "where the first draft is asked"
    following = format_when(next_due(plan, home, tx.now), mine, now=tx.now)
    return (
        f"every {DAY_NAMES[plan.weekday]} at {plan.hour:02d}:00 ({zone}) to {to}; next: {following}"
    )


def change(tx: Tx, ws: Workspace, me: Member, choice: DigestChoice) -> Message:
    """Set the digest's day and hour, or turn it off or on (admins: the caller checks)."""
    row = tx.session.get(DigestSetting, ws.id)
    if row is None:
        row = DigestSetting(workspace_id=ws.id, enabled=True, weekday=0, hour=9)
        tx.session.add(row)
    row.enabled = choice.enabled
    if choice.weekday is not None and choice.hour is not None:
        row.weekday, row.hour = choice.weekday, choice.hour
    row.updated_at = tx.now
    tx.session.flush()
    detail = {"digest": {"enabled": row.enabled, "weekday": row.weekday, "hour": row.hour}}
    audit(tx, ws.id, "workspace.config", actor_id=me.id, detail=detail)
    if not row.enabled:
        return Message(text="📊 The weekly digest is off now. Turn it back on: config digest on")
    plan = Plan(row.enabled, row.weekday, row.hour)
    return Message(text=f"📊 The weekly digest now goes out {_when(tx, ws, me, plan)}.")
