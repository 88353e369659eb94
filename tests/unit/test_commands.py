"""The command grammar: what parses, and the message for what does not."""

from __future__ import annotations

import pytest

from core.approvals.commands import Approve, Reject, SetPolicy
from core.errors import BadInput
from core.grammar import defuse_mentions, redact_secrets
from core.posts.commands import Cancel, Draft, Edit, Queue, Regenerate, Show
from core.registry import Command, Help, Wait, commands, help_text, parse
from core.scheduling.commands import Retry, Schedule
from core.workspace.commands import SetRole, SetTimezone
from storage.models import Role


@pytest.mark.parametrize(
    ("line", "expected"),
    [
        ("draft Our API is live", Draft("Our API is live")),
        ("draft Our API is live --to x,linkedin", Draft("Our API is live", ("x", "linkedin"))),
        (
            'draft Our team\'s API --to outbox --at "tomorrow 9am"',
            Draft("Our team's API", ("outbox",), "tomorrow 9am"),
        ),
        (
            "draft Launch --at next monday 14:30 --to x",
            Draft("Launch", ("x",), "next monday 14:30"),
        ),
        ("/draft Hello --to=outbox", Draft("Hello", ("outbox",))),
        ("DRAFT  spaced   out ", Draft("spaced   out")),
        ("queue", Queue()),
        ("list", Queue()),
        ("show 12", Show(12)),
        ("show #12", Show(12)),
        ("edit 12 linkedin New text here", Edit(12, "linkedin", "New text here")),
        ("edit 3 twitter short", Edit(3, "x", "short")),
        ("approve 12", Approve(12)),
        ("reject 12 too salesy", Reject(12, "too salesy")),
        ("reject 12", Reject(12, None)),
        ("regenerate 4 shorter please", Regenerate(4, "shorter please")),
        ("schedule 12 next monday 14:30", Schedule(12, "next monday 14:30")),
        ('schedule 12 "in 2h"', Schedule(12, "in 2h")),
        ("cancel 12", Cancel(12)),
        ("retry 12 outbox", Retry(12, "outbox")),
        ("tz Europe/Berlin", SetTimezone("Europe/Berlin")),
        ("tz", SetTimezone(None)),
        ("role @lee approver", SetRole("lee", Role.APPROVER)),
        ("role <@U1LEE> admin", SetRole("U1LEE", Role.ADMIN, verified=True)),
        (f"role {defuse_mentions('<@U1LEE>')} admin", SetRole("\u2039@U1LEE>", Role.ADMIN)),
        ("policy self-approval off approvals 2", SetPolicy(False, 2)),
        ("help", Help(None)),
        ("help /draft", Help("draft")),
        ("wait", Wait()),
    ],
)
def test_parses(line: str, expected: Command) -> None:
    assert parse(line) == expected


@pytest.mark.parametrize(
    ("line", "message"),
    [
        ("", "Type a command, e.g. draft Our API is live --to x. Type help for all."),
        ("frobnicate", 'I don\'t know the command "frobnicate". Type help to see what I can do.'),
        (
            "draft",
            "What should the post be about? Give a brief, e.g. draft Our API is live. "
            "Usage: draft <brief> [--to x,linkedin,...] [--at <when>|best]",
        ),
        ("draft --to x", "What should the post be about?"),
        ("draft hi --to myspace", 'I don\'t know the network "myspace". Use one of: outbox, x'),
        ("draft hi --to", "--to needs a value."),
        ("draft hi --to x --to linkedin", "--to is given twice."),
        ("approve", "I need a post number like 12 or #12, got nothing. Usage: approve <n>"),
        ("approve twelve", 'I need a post number like 12 or #12, got "twelve".'),
        ("edit 12", "Say which network and give the new text. Usage: edit <n> <network> <text>"),
        ("edit 12 myspace text", 'I don\'t know the network "myspace"'),
        ("schedule 12", 'When? e.g. schedule 12 "tomorrow 9am".'),
        ("role lee", "Name a member and a role."),
        ("role lee king", '"king" is not a role.'),
        ("policy approvals 9", "approvals takes a number from 1 to 5."),
        ("policy self-approval maybe", 'Say on or off, not "maybe".'),
    ],
)
def test_refuses_with_a_way_forward(line: str, message: str) -> None:
    with pytest.raises(BadInput) as error:
        parse(line)
    assert message in str(error.value)


def test_brief_limit_is_4000_characters() -> None:
    assert parse("draft " + "a" * 4000) == Draft("a" * 4000)
    with pytest.raises(BadInput) as error:
        parse("draft " + "a" * 4001)
    assert str(error.value) == (
        "The brief is 4,001 characters; the limit is 4,000. Shorten it or link to the details."
    )


def test_help_lists_every_command() -> None:
    text = help_text()
    for spec in commands().specs:
        assert f"{spec.name}  " in text and spec.summary in text
    assert help_text("draft").startswith("draft <brief>")


@pytest.mark.parametrize(
    ("line", "kept"),
    [
        ("connect bluesky acme.bsky.social hunter2", "connect bluesky acme.bsky.social •••"),
        ("/connect Bluesky acme hunter2 pds.example", "/connect Bluesky acme ••• pds.example"),
        ("draft our pass is abcd-efgh-ijkl-mnop", "draft our pass is •••"),
        ("connect bluesky acme.bsky.social", "connect bluesky acme.bsky.social"),
        ("connect mastodon mastodon.social", "connect mastodon mastodon.social"),
        ("draft Launch day 2026-12-01 --to x", "draft Launch day 2026-12-01 --to x"),
    ],
)
def test_credentials_are_redacted_from_what_is_kept(line: str, kept: str) -> None:
    assert redact_secrets(line) == kept
