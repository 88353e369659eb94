"""Four eyes: with self-approval off, whoever last changed a post's text can't approve it."""

from __future__ import annotations

from bot.runtime import Runtime
from tests.support.helpers import actor, eventually, post_state, snapshot

MARIA, LEE, KIM = actor("maria"), actor("lee"), actor("kim")


def team_with_a_draft(rt: Runtime) -> int:
    for person in (MARIA, LEE, KIM):  # Maria first: the owner
        rt.herald.handle(person, "queue")
    assert not rt.herald.handle(MARIA, "policy self-approval off").error
    rt.herald.handle(MARIA, "role lee approver")
    rt.herald.handle(MARIA, "role kim approver")
    reply = rt.herald.handle(MARIA, "draft Our API is live --to outbox")
    number = reply.post_number
    assert number is not None
    eventually(lambda: post_state(rt, number) == "pending_approval", what="the card")
    return number


def test_an_approver_who_edited_the_text_cannot_approve_it(runtime: Runtime) -> None:
    number = team_with_a_draft(runtime)
    edited = runtime.herald.handle(LEE, f"edit {number} outbox Buy now, guaranteed returns")
    assert not edited.error, edited.text
    before = snapshot(runtime)
    for who in (LEE, MARIA):  # the editor, and the author of the brief
        reply = runtime.herald.handle(who, f"approve {number}")
        assert reply.error and reply.text
        assert "needs someone else to approve it" in reply.text
    assert "You last changed the Outbox text of #" in (
        runtime.herald.handle(LEE, f"approve {number}").text or ""
    )
    assert snapshot(runtime) == before
    third = runtime.herald.handle(KIM, f"approve {number}")
    assert not third.error and (third.text or "").startswith(f"✅ #{number} approved by @kim")


def test_an_approver_who_regenerated_the_text_cannot_approve_it(runtime: Runtime) -> None:
    number = team_with_a_draft(runtime)
    runtime.herald.handle(LEE, f"regenerate {number} say it is guaranteed")
    eventually(lambda: post_state(runtime, number) == "pending_approval", what="the new text")
    reply = runtime.herald.handle(LEE, f"approve {number}")
    assert reply.error and "needs someone else to approve it" in (reply.text or "")
    assert post_state(runtime, number) == "pending_approval"
    third = runtime.herald.handle(KIM, f"approve {number}")
    assert not third.error, third.text


def test_with_self_approval_on_the_editor_may_approve(runtime: Runtime) -> None:
    number = team_with_a_draft(runtime)
    runtime.herald.handle(LEE, f"edit {number} outbox Our API is live today")
    runtime.herald.handle(MARIA, "policy self-approval on")
    reply = runtime.herald.handle(LEE, f"approve {number}")
    assert not reply.error, reply.text
