"""The lifecycle through the chat grammar, with a real Celery worker on both backends."""

from __future__ import annotations

import threading

from bot.runtime import Runtime
from storage.models import Role
from tests.support.helpers import (
    actor,
    eventually,
    messages,
    outbox_files,
    post_state,
    target_states,
)

MARIA = actor("maria")
LEE = actor("lee")
KIM = actor("kim")


def draft_ready(rt: Runtime, text: str, who=MARIA) -> int:
    reply = rt.herald.handle(who, text)
    assert not reply.error, reply.text
    assert reply.post_number is not None
    number = reply.post_number
    eventually(lambda: post_state(rt, number) == "pending_approval", what="the card")
    return number


def test_draft_approve_publish_once(runtime: Runtime) -> None:
    reply = runtime.herald.handle(MARIA, "draft Our new API is live --to outbox")
    assert reply.text == "Drafting #1 for Outbox…"
    eventually(lambda: post_state(runtime, 1) == "pending_approval", what="the card")
    card = messages(runtime)[0].card
    assert card is not None
    assert card.title == "#1 · Draft by @maria · for Outbox"
    assert [b.label for b in card.buttons] == ["Approve", "Edit", "Regenerate", "Reject"]
    assert card.when == "as soon as approved"
    assert "API is live" in card.variants[0].text

    reply = runtime.herald.handle(MARIA, "approve 1")
    assert reply.text is not None and reply.text.startswith("✅ #1 approved by @maria")
    eventually(lambda: target_states(runtime, 1) == {"outbox": "published"}, what="publish")
    files = outbox_files(runtime)
    assert len(files) == 1
    assert files[0]["post"] == 1
    assert "API is live" in str(files[0]["text"])
    published = [m.text for m in messages(runtime) if m.text and m.text.startswith("🚀")]
    assert len(published) == 1
    assert str(runtime.settings.outbox_dir) in published[0]


def test_two_approvers_racing_yield_one_approval(runtime: Runtime) -> None:
    runtime.herald.handle(MARIA, "queue")  # the owner
    runtime.herald.handle(LEE, "queue")  # joins as editor
    runtime.herald.handle(KIM, "queue")
    assert not runtime.herald.handle(MARIA, "policy self-approval off").error
    runtime.herald.handle(MARIA, "role lee approver")
    runtime.herald.handle(MARIA, "role kim approver")
    number = draft_ready(runtime, "draft Launch day --to outbox")
    barrier = threading.Barrier(2)
    answers: dict[str, str] = {}

    def click(who) -> None:
        barrier.wait()
        reply = runtime.herald.handle(who, f"approve {number}")
        answers[who.user_name] = f"{'ERR ' if reply.error else ''}{reply.text}"

    threads = [threading.Thread(target=click, args=(w,)) for w in (LEE, KIM)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(30)
    winners = [a for a in answers.values() if a.startswith("✅")]
    losers = [a for a in answers.values() if a.startswith("ERR")]
    assert len(winners) == 1, answers
    assert len(losers) == 1, answers
    assert "already approved by @" in losers[0]
    eventually(lambda: target_states(runtime, number) == {"outbox": "published"}, what="publish")
    assert len(outbox_files(runtime)) == 1


def test_viewer_cannot_approve_and_nothing_changes(runtime: Runtime) -> None:
    number = draft_ready(runtime, "draft A post for the team --to outbox")
    runtime.herald.handle(LEE, "queue")  # lee joins first: one person has no roles
    runtime.herald.handle(MARIA, "role lee viewer")
    reply = runtime.herald.handle(LEE, f"approve {number}")
    assert reply.error
    assert reply.text is not None
    assert "You are a viewer here" in reply.text
    assert "role @lee approver" in reply.text
    assert post_state(runtime, number) == "pending_approval"


def test_self_approval_policy_and_two_approvals(runtime: Runtime) -> None:
    for person in (MARIA, LEE, KIM):  # a team: one person needs no second approver
        runtime.herald.handle(person, "queue")
    assert not runtime.herald.handle(MARIA, "policy self-approval off approvals 2").error
    runtime.herald.handle(MARIA, "role lee approver")
    runtime.herald.handle(MARIA, "role kim approver")
    number = draft_ready(runtime, "draft Needs two eyes --to outbox")
    own = runtime.herald.handle(MARIA, f"approve {number}")
    assert own.error and own.text and "needs someone else to approve" in own.text
    first = runtime.herald.handle(LEE, f"approve {number}")
    assert first.text == f"Approval 1 of 2 for #{number} recorded by @lee. Waiting for 1 more."
    again = runtime.herald.handle(LEE, f"approve {number}")
    assert again.error and again.text and "already approved" in again.text
    assert post_state(runtime, number) == "pending_approval"
    second = runtime.herald.handle(KIM, f"approve {number}")
    assert second.text and second.text.startswith(f"✅ #{number} approved by @lee, @kim")
    eventually(lambda: target_states(runtime, number) == {"outbox": "published"}, what="publish")


def test_scheduled_post_waits_for_its_time(runtime: Runtime) -> None:
    number = draft_ready(runtime, 'draft Later please --to outbox --at "in 2h"')
    reply = runtime.herald.handle(MARIA, f"approve {number}")
    assert reply.text and "scheduled for" in reply.text and "UTC" in reply.text
    assert target_states(runtime, number) == {"outbox": "scheduled"}
    # Several dispatcher ticks pass; a post due in two hours stays put.
    import time

    time.sleep(1.5)
    assert target_states(runtime, number) == {"outbox": "scheduled"}
    assert outbox_files(runtime) == []
    queue = runtime.herald.handle(MARIA, "queue")
    assert queue.text and f"#{number} · approved" in queue.text


def test_edit_after_approval_returns_to_pending(runtime: Runtime) -> None:
    number = draft_ready(runtime, 'draft Edit me later --to outbox --at "tomorrow 9am"')
    runtime.herald.handle(MARIA, f"approve {number}")
    assert target_states(runtime, number) == {"outbox": "scheduled"}
    reply = runtime.herald.handle(MARIA, f"edit {number} outbox Better words, same idea.")
    assert not reply.error, reply.text
    assert reply.card is not None and reply.card.variants[0].text == "Better words, same idea."
    assert post_state(runtime, number) == "pending_approval"
    assert target_states(runtime, number) == {"outbox": "draft"}
    reply = runtime.herald.handle(MARIA, f"approve {number}")
    assert reply.text and "scheduled for" in reply.text


def test_cancel_and_regenerate(runtime: Runtime) -> None:
    number = draft_ready(runtime, "draft Something to cancel --to outbox")
    reply = runtime.herald.handle(MARIA, f"regenerate {number} shorter")
    assert reply.text == f"Drafting #{number} again (shorter)…"
    eventually(lambda: post_state(runtime, number) == "pending_approval", what="regenerated")
    reply = runtime.herald.handle(MARIA, f"cancel {number}")
    assert reply.text == f"Cancelled #{number}. Nothing will be posted."
    assert post_state(runtime, number) == "cancelled"
    reply = runtime.herald.handle(MARIA, f"approve {number}")
    assert reply.error and reply.text and "was cancelled" in reply.text


def test_reject_with_reason(runtime: Runtime) -> None:
    number = draft_ready(runtime, "draft Too salesy thing --to outbox")
    reply = runtime.herald.handle(MARIA, f"reject {number} too salesy")
    assert reply.text and reply.text.startswith(f"❌ #{number} rejected by @maria: too salesy")
    assert post_state(runtime, number) == "rejected"
    shown = runtime.herald.handle(MARIA, f"show {number}")
    assert shown.text and "post.reject → rejected by @maria" in shown.text


def test_first_member_owns_and_others_edit(runtime: Runtime) -> None:
    runtime.herald.handle(MARIA, "queue")
    runtime.herald.handle(LEE, "queue")  # lee joins as an editor
    reply = runtime.herald.handle(LEE, "role lee owner")
    assert reply.error and reply.text and "You are an editor here" in reply.text
    assert runtime.herald.handle(MARIA, "role lee admin").text == "@lee is now admin."
    assert Role.ADMIN.value == "admin"


def test_skip_and_next_free_slot_after_a_failure(idle_runtime: Runtime) -> None:
    from sqlalchemy import update

    from storage.models import Target, TargetState

    rt = idle_runtime
    rt.herald.handle(MARIA, "draft One network --to outbox")
    with rt.db.session() as s:
        s.execute(update(Target).values(state=TargetState.FAILED, failure_reason="boom"))
        from storage.models import Post, PostState

        s.execute(update(Post).values(state=PostState.APPROVED))
    moved = rt.herald.handle(MARIA, "slot 1")
    assert moved.text and moved.text.startswith("🗓 #1 Outbox moves to ")
    assert target_states(rt, 1) == {"outbox": "scheduled"}
    skipped = rt.herald.handle(MARIA, "skip 1 outbox")
    assert skipped.text == "Skipped Outbox; nothing is left of #1, so it is cancelled."
    assert post_state(rt, 1) == "cancelled"


def test_accepted_commands_run_once_in_the_worker(runtime: Runtime) -> None:
    from sqlalchemy import select

    from storage.models import OutboundMessage

    row = runtime.herald.accept(MARIA, "draft Accepted before the ack --to outbox")
    eventually(lambda: post_state(runtime, 1) == "pending_approval", what="the draft")
    assert row is not None
    runtime.herald.run_inbound(row)  # a second delivery of the same job does nothing
    runtime.herald.accept(LEE, "approve 1")  # an editor: refused, privately
    runtime.herald.accept(MARIA, "approve 1")
    eventually(lambda: target_states(runtime, 1) == {"outbox": "published"}, what="publish")

    def private() -> list[tuple[str | None, str]]:
        with runtime.db.session() as s:
            rows = s.scalars(
                select(OutboundMessage).where(OutboundMessage.recipient.is_not(None))
            ).all()
            return [(r.recipient, str(r.payload.get("text"))) for r in rows]

    eventually(lambda: len(private()) >= 3, what="replies")
    replies = private()
    assert replies[0] == ("maria", "Drafting #1 for Outbox…")
    assert (
        "lee",
        "You are an editor here, and only owners, admins and approvers can approve. "
        "Ask an admin: role @lee approver",
    ) in replies
    assert any(r == "maria" and t.startswith("✅ #1 approved by @maria") for r, t in replies)
    assert len([t for _, t in replies if t.startswith("Drafting")]) == 1
    assert len(outbox_files(runtime)) == 1
