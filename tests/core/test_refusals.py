"""Bad input changes nothing and says what to do, on both databases."""

from __future__ import annotations

import pytest
from sqlalchemy import select

from bot.runtime import Runtime
from storage.models import Post
from tests.support.helpers import actor, snapshot

MARIA = actor("maria")
VIEWER = actor("vic")


@pytest.fixture
def pending(idle_runtime: Runtime) -> Runtime:
    """#1 pending approval, #2 approved and scheduled for tomorrow; vic is a viewer."""
    rt = idle_runtime
    rt.herald.handle(MARIA, "draft First post --to outbox")
    rt.herald.handle(MARIA, 'draft Second post --to outbox --at "tomorrow 9am"')
    with rt.db.session() as s:
        ids = s.scalars(select(Post.id).order_by(Post.id)).all()
    for post_id in ids:
        rt.herald.generate(post_id)
    assert (rt.herald.handle(MARIA, "approve 2").text or "").startswith("✅")
    rt.herald.handle(VIEWER, "queue")  # vic joins first: a one-person terminal has no roles
    assert "is now" in (rt.herald.handle(MARIA, "role vic viewer").text or "")
    return rt


@pytest.mark.parametrize(
    ("who", "line", "says"),
    [
        (MARIA, "publish 1", 'I don\'t know the command "publish". Type help'),
        (MARIA, "draft hello --to myspace", 'I don\'t know the network "myspace". Use one of:'),
        (
            MARIA,
            "draft hello --to x",
            "X is not connected here yet. Networks you can post to now: outbox.",
        ),
        (MARIA, "draft --to outbox", "What should the post be about?"),
        (MARIA, "draft " + "x" * 4001, "The brief is 4,001 characters; the limit is 4,000."),
        (MARIA, "draft hi --at 2020-01-01 09:00", "that is in the past. Pick a time in the future"),
        (MARIA, 'draft hi --at "yesterday 9am"', "that is in the past. Pick a time in the future"),
        (MARIA, 'draft hi --at "last monday"', "that is in the past. Pick a time in the future"),
        (MARIA, "draft hi --at someday", 'I can\'t read "someday" as a time.'),
        (MARIA, "schedule 1 2020-01-01 09:00", "I can't schedule #1 for Wed 1 Jan 2020, 09:00 UTC"),
        (MARIA, "approve 2", "#2 was already approved by @maria. Nothing to do."),
        (MARIA, "approve 9", "There is no post #9 here."),
        (MARIA, "reject 2 nope", "#2 is already approved, so it can't be rejected now."),
        (
            MARIA,
            "edit 1 outbox " + "y" * 5001,
            "The Outbox text is 5,001/5,000 characters. Shorten it by 1. Then try again.",
        ),
        (MARIA, "edit 1 linkedin hello", "#1 is not going to LinkedIn. It is for Outbox."),
        (MARIA, "retry 1", "#1 has no failed network to retry."),
        (
            VIEWER,
            "approve 1",
            "You are a viewer here, and only owners, admins and approvers can approve.",
        ),
        (VIEWER, "draft hello", "You are a viewer here"),
        (VIEWER, "cancel 2", "You are a viewer here"),
        (VIEWER, "role vic owner", "You are a viewer here"),
        (MARIA, "tz Mars/Olympus", 'I don\'t know the time zone "Mars/Olympus".'),
    ],
)
def test_refused_and_unchanged(pending: Runtime, who, line: str, says: str) -> None:
    before = snapshot(pending)
    reply = pending.herald.handle(who, line)
    assert reply.error, reply.text
    assert says in (reply.text or "")
    assert snapshot(pending) == before
