"""The command grammar: what parses, and the message for what does not."""

from __future__ import annotations

import pytest

from core import commands as c
from core.errors import BadInput
from storage.models import Role


@pytest.mark.parametrize(
    ("line", "expected"),
    [
        ("draft Our API is live", c.Draft("Our API is live")),
        ("draft Our API is live --to x,linkedin", c.Draft("Our API is live", ("x", "linkedin"))),
        (
            'draft Our team\'s API --to outbox --at "tomorrow 9am"',
            c.Draft("Our team's API", ("outbox",), "tomorrow 9am"),
        ),
        (
            "draft Launch --at next monday 14:30 --to x",
            c.Draft("Launch", ("x",), "next monday 14:30"),
        ),
        ("/draft Hello --to=outbox", c.Draft("Hello", ("outbox",))),
        ("DRAFT  spaced   out ", c.Draft("spaced   out")),
        ("queue", c.Queue()),
        ("list", c.Queue()),
        ("show 12", c.Show(12)),
        ("show #12", c.Show(12)),
        ("edit 12 linkedin New text here", c.Edit(12, "linkedin", "New text here")),
        ("edit 3 twitter short", c.Edit(3, "x", "short")),
        ("approve 12", c.Approve(12)),
        ("reject 12 too salesy", c.Reject(12, "too salesy")),
        ("reject 12", c.Reject(12, None)),
        ("regenerate 4 shorter please", c.Regenerate(4, "shorter please")),
        ("schedule 12 next monday 14:30", c.Schedule(12, "next monday 14:30")),
        ('schedule 12 "in 2h"', c.Schedule(12, "in 2h")),
        ("cancel 12", c.Cancel(12)),
        ("retry 12 outbox", c.Retry(12, "outbox")),
        ("tz Europe/Berlin", c.SetTimezone("Europe/Berlin")),
        ("tz", c.SetTimezone(None)),
        ("role @lee approver", c.SetRole("lee", Role.APPROVER)),
        ("role <@U1LEE> admin", c.SetRole("U1LEE", Role.ADMIN, verified=True)),
        (f"role {c.defuse_mentions('<@U1LEE>')} admin", c.SetRole("\u2039@U1LEE>", Role.ADMIN)),
        ("policy self-approval off approvals 2", c.SetPolicy(False, 2)),
        ("help", c.Help(None)),
        ("help /draft", c.Help("draft")),
        ("wait", c.Wait()),
    ],
)
def test_parses(line: str, expected: c.Command) -> None:
    assert c.parse(line) == expected


@pytest.mark.parametrize(
    ("line", "message"),
    [
        ("", "Type a command, e.g. draft Our API is live --to x. Type help for all."),
        ("frobnicate", 'I don\'t know the command "frobnicate". Type help to see what I can do.'),
        (
            "draft",
            "What should the post be about? Give a brief, e.g. draft Our API is live. "
            "Usage: draft <brief> [--to x,linkedin,...] [--at <when>]",
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
        c.parse(line)
    assert message in str(error.value)


def test_brief_limit_is_4000_characters() -> None:
    assert c.parse("draft " + "a" * 4000) == c.Draft("a" * 4000)
    with pytest.raises(BadInput) as error:
        c.parse("draft " + "a" * 4001)
    assert str(error.value) == (
        "The brief is 4,001 characters; the limit is 4,000. Shorten it or link to the details."
    )


def test_help_lists_every_command() -> None:
    text = c.help_text()
    for name in c.USAGE:
        assert c.USAGE[name] in text
    assert c.help_text("draft").startswith("draft <brief>")


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
    assert c.redact_secrets(line) == kept
