"""The command registry: every command declared once, complete, readable on every screen, valid
as a Telegram command, and refused before anything changes when the role does not allow it."""

from __future__ import annotations

import re
from dataclasses import dataclass

import pytest
from sqlalchemy import select

from bot.runtime import Runtime
from bot.telegram.app import menu
from core.approvals.commands import Approve
from core.errors import BadInput
from core.grammar import UnknownCommand
from core.permissions import Action
from core.posts.card import Message
from core.posts.commands import Queue
from core.registry import NARROW, Registry, Spec, commands, help_text, parse
from core.workspace.commands import SetTimezone
from storage.models import Member, Post, Workspace
from tests.support.helpers import actor, snapshot

TELEGRAM_COMMAND = re.compile(r"[a-z0-9_]{1,32}")
MARIA = actor("maria")
VIC = actor("vic")

# One line per command a viewer may not run (or may only read): each must be refused.
REFUSED_FOR_VIEWERS = {
    "draft": "draft Our launch --to outbox",
    "edit": "edit 1 outbox New text",
    "regenerate": "regenerate 1 shorter",
    "cancel": "cancel 1",
    "attach": "attach 1 https://example.com/a.png",
    "approve": "approve 1",
    "reject": "reject 1 too salesy",
    "policy": "policy approvals 2",
    "schedule": "schedule 1 tomorrow 9am",
    "retry": "retry 1",
    "posted": "posted 1 outbox",
    "skip": "skip 1 outbox",
    "slot": "slot 1",
    "reschedule": "reschedule 1 tomorrow 9am",
    "release": "release 1",
    "pause": "pause 1h",
    "resume": "resume",
    "role": "role vic owner",
    "config": "config approvals-channel #launches",
    "voice": "voice tone loud",
    "connect": "connect mastodon mastodon.social",
    "disconnect": "disconnect outbox",
    "audit": "audit",
    "forget": "forget maria",
    "usage": "usage",
    # Their own tokens are everyone's; another's only owners' and admins'.
    "token": "token revoke ci @maria",
}


def test_every_command_has_a_usage_and_a_summary() -> None:
    registry = commands()
    assert len(registry.specs) >= 24
    for spec in registry.specs:
        assert spec.usage.split(" · ")[0].split()[0] == spec.name, spec.name
        assert spec.summary and not spec.summary.endswith("."), spec.name
        assert registry.find(spec.name) is spec


def test_aliases_resolve_to_their_command() -> None:
    assert parse("ok 3") == parse("approve 3") == Approve(3)
    assert parse("list") == Queue()
    assert parse("/TimeZone Europe/Berlin") == SetTimezone("Europe/Berlin")
    assert help_text("ok") == help_text("approve")
    for spec in commands().specs:
        for alias in spec.aliases:
            assert commands().find(alias) is spec


def test_an_unknown_word_is_left_to_the_interpreter() -> None:
    with pytest.raises(UnknownCommand):
        parse("publish 12")


def test_help_fits_a_phone_and_a_terminal() -> None:
    pages = [help_text()] + [help_text(spec.name) for spec in commands().specs]
    for page in pages:
        for line in page.splitlines():
            assert len(line) <= NARROW <= 80, line
    listing = help_text()
    for spec in commands().specs:
        assert re.search(rf"^{spec.name} +{re.escape(spec.summary)}$", listing, re.MULTILINE)
    # Every form of a long usage is on a line of its own.
    assert "voice template <network> <jinja>" in help_text("voice").splitlines()
    with pytest.raises(BadInput, match='There is no command "frob"'):
        help_text("frob")


def test_telegram_command_names_and_menu_are_valid() -> None:
    for word in commands().words():
        assert TELEGRAM_COMMAND.fullmatch(word), word
    shown = menu()
    assert shown[0].command == "start"
    assert [c.command for c in shown[1:]] == [name for name, _ in commands().menu()]
    assert {"draft", "approve", "help"} <= {c.command for c in shown}
    for command in shown:
        assert TELEGRAM_COMMAND.fullmatch(command.command)
        assert 1 <= len(command.description) <= 256


@dataclass(frozen=True)
class Ping:
    pass


def _ping(name: str, *aliases: str, kind: type = Ping) -> Spec[Ping]:
    return Spec(
        name=name,
        kind=kind,
        usage=name,
        summary="answer pong",
        parse=lambda _: Ping(),
        answer=lambda _: Message(text="pong"),
        aliases=aliases,
    )


def test_a_word_or_a_command_declared_twice_is_refused() -> None:
    with pytest.raises(ValueError, match="'ping' is declared twice"):
        Registry([_ping("ping"), _ping("pong", "ping", kind=Queue)])
    with pytest.raises(ValueError, match="Ping is the command of two specs"):
        Registry([_ping("ping"), _ping("pong")])
    with pytest.raises(ValueError, match="'time-zone' is not a command word"):
        Registry([_ping("ping", "time-zone")])


def test_every_guarded_command_has_a_refusal_case() -> None:
    guarded = {s.name for s in commands().specs if s.permission not in (None, Action.VIEW)}
    assert guarded <= set(REFUSED_FOR_VIEWERS)
    assert {s.name for s in commands().specs} >= set(REFUSED_FOR_VIEWERS)


@pytest.fixture
def team(idle_runtime: Runtime) -> Runtime:
    """#1 is drafted and waits for approval; maria owns the workspace, vic is a viewer."""
    idle_runtime.herald.handle(MARIA, "draft First post --to outbox")
    with idle_runtime.db.session() as s:
        post_id = s.scalars(select(Post.id)).one()
    idle_runtime.herald.generate(post_id)
    idle_runtime.herald.handle(VIC, "queue")  # vic joins: a terminal with one person has no roles
    idle_runtime.herald.handle(MARIA, "role vic viewer")
    return idle_runtime


def _people_and_settings(rt: Runtime) -> tuple[object, ...]:
    with rt.db.session() as s:
        roles = sorted((m.external_id, m.role.value) for m in s.scalars(select(Member)))
        spaces = [
            (w.settings, w.self_approval, w.approvals_required)
            for w in s.scalars(select(Workspace).order_by(Workspace.id))
        ]
    return roles, spaces


def test_a_refused_command_changes_nothing(team: Runtime) -> None:
    for name, line in REFUSED_FOR_VIEWERS.items():
        before = snapshot(team), _people_and_settings(team)
        reply = team.herald.handle(VIC, line)
        assert reply.error, (name, reply.text)
        assert (reply.text or "").startswith("You are a viewer here, and only"), (name, reply.text)
        assert (snapshot(team), _people_and_settings(team)) == before, name
    # Reading stays open to everyone.
    for line in ("queue", "show 1", "policy", "config", "voice", "accounts", "tz"):
        assert not team.herald.handle(VIC, line).error, line
