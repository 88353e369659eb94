"""Nothing lost, nothing doubled: crashes, timeouts and duplicate deliveries around publishing."""

from __future__ import annotations

import threading
from datetime import timedelta

from sqlalchemy import select, update

from bot.runtime import Runtime
from core.errors import ContentRejected, RateLimited, Transient
from core.platforms.outbox import OutboxPublisher
from core.publishing import attempts
from storage.models import AuditEvent, PublishAttempt, Target, TargetState
from tests.support.helpers import actor, messages, outbox_files, target_states
from tests.support.platforms import approved_and_queued, flaky_outbox

MARIA = actor("maria")


def test_duplicate_publish_delivery_posts_once(idle_runtime: Runtime) -> None:
    target_id = approved_and_queued(idle_runtime)
    threads = [
        threading.Thread(target=idle_runtime.herald.publish, args=(target_id,)) for _ in range(4)
    ]
    for t in threads:
        t.start()
    for t in threads:
        t.join(30)
    idle_runtime.herald.publish(target_id)
    assert target_states(idle_runtime, 1) == {"outbox": "published"}
    assert len(outbox_files(idle_runtime)) == 1
    with idle_runtime.db.session() as s:
        assert len(s.scalars(select(PublishAttempt)).all()) == 1


def test_lost_answer_is_reconciled_not_reposted(idle_runtime: Runtime) -> None:
    target_id = approved_and_queued(idle_runtime)
    flaky = flaky_outbox(idle_runtime, [Transient("the network timed out")], post_first=True)
    idle_runtime.herald.publish(target_id)
    assert target_states(idle_runtime, 1) == {"outbox": "unknown"}
    idle_runtime.herald.reconcile(target_id)
    assert target_states(idle_runtime, 1) == {"outbox": "published"}
    assert flaky.calls == 1  # found by reconciliation: no second post
    assert len(outbox_files(idle_runtime)) == 1


def test_crash_before_the_network_is_retried_after_checking(idle_runtime: Runtime) -> None:
    target_id = approved_and_queued(idle_runtime)
    flaky = flaky_outbox(idle_runtime, [ConnectionResetError("reset")], post_first=False)
    idle_runtime.herald.publish(target_id)
    assert target_states(idle_runtime, 1) == {"outbox": "unknown"}
    idle_runtime.herald.reconcile(target_id)
    assert target_states(idle_runtime, 1) == {"outbox": "published"}
    assert flaky.calls == 2
    assert len(outbox_files(idle_runtime)) == 1


def test_gives_up_visibly_after_the_attempt_limit(idle_runtime: Runtime) -> None:
    target_id = approved_and_queued(idle_runtime)
    flaky_outbox(idle_runtime, [Transient("503 from the network")] * 5, post_first=False)
    idle_runtime.herald.publish(target_id)
    for _ in range(5):
        idle_runtime.herald.reconcile(target_id)
    assert target_states(idle_runtime, 1) == {"outbox": "failed"}
    last = messages(idle_runtime)[-1]
    assert last.error
    assert last.text == (
        "⚠ #1 failed on Outbox: gave up after 3 attempts (503 from the network). "
        "Try again: retry 1 outbox"
    )
    reply = idle_runtime.herald.handle(MARIA, "retry 1")
    assert reply.text == "Retrying #1 on Outbox now."
    assert target_states(idle_runtime, 1) == {"outbox": "scheduled"}
    idle_runtime.herald.ctx.publishers = {
        "outbox": OutboxPublisher(idle_runtime.settings.outbox_dir)
    }
    idle_runtime.herald.dispatch_due()
    idle_runtime.herald.publish(target_id)
    assert target_states(idle_runtime, 1) == {"outbox": "published"}
    assert len(outbox_files(idle_runtime)) == 1


def test_content_rejected_fails_with_reason(idle_runtime: Runtime) -> None:
    target_id = approved_and_queued(idle_runtime)
    flaky_outbox(
        idle_runtime, [ContentRejected("the network says this is a duplicate")], post_first=False
    )
    idle_runtime.herald.publish(target_id)
    assert target_states(idle_runtime, 1) == {"outbox": "failed"}
    shown = idle_runtime.herald.handle(MARIA, "show 1")
    assert shown.card is not None
    assert shown.card.variants[0].reason == "the network says this is a duplicate"
    assert [b.label for b in shown.card.buttons] == ["Retry", "Next free slot", "Skip Outbox"]


def test_rate_limit_moves_the_slot_instead_of_sleeping(idle_runtime: Runtime) -> None:
    target_id = approved_and_queued(idle_runtime)
    until = idle_runtime.herald.ctx.clock.now() + timedelta(minutes=15)
    flaky_outbox(idle_runtime, [RateLimited("429", until)], post_first=False)
    idle_runtime.herald.publish(target_id)
    assert target_states(idle_runtime, 1) == {"outbox": "scheduled"}
    with idle_runtime.db.session() as s:
        target = s.get(Target, target_id)
        assert target is not None and target.scheduled_at == until
    assert idle_runtime.herald.dispatch_due() == 0  # not due yet
    assert outbox_files(idle_runtime) == []


def test_sweeper_recovers_a_worker_that_died_mid_publish(idle_runtime: Runtime) -> None:
    target_id = approved_and_queued(idle_runtime)
    with idle_runtime.db.session() as s:  # the worker committed `publishing`, posted, then died
        target = s.get(Target, target_id)
        assert target is not None
        request = attempts.request_for(target)
    OutboxPublisher(idle_runtime.settings.outbox_dir).publish(request)
    long_ago = idle_runtime.herald.ctx.clock.now() - timedelta(hours=1)
    with idle_runtime.db.session() as s:
        s.execute(
            update(Target).values(
                state=TargetState.PUBLISHING, state_changed_at=long_ago, attempts=1
            )
        )
    counts = idle_runtime.herald.sweep()
    assert counts["publishing"] == 1
    assert target_states(idle_runtime, 1) == {"outbox": "unknown"}
    idle_runtime.herald.reconcile(target_id)
    assert target_states(idle_runtime, 1) == {"outbox": "published"}
    assert len(outbox_files(idle_runtime)) == 1


def test_sweeper_resends_lost_nudges(idle_runtime: Runtime) -> None:
    target_id = approved_and_queued(idle_runtime)  # queued, but its message was lost with Redis
    long_ago = idle_runtime.herald.ctx.clock.now() - timedelta(hours=1)
    with idle_runtime.db.session() as s:
        s.execute(update(Target).values(state_changed_at=long_ago))
    sent: list[tuple[str, tuple[int, ...]]] = []

    class Recorder:
        def enqueue(self, task: str, *args: int, countdown: float | None = None) -> None:
            sent.append((task, args))

    idle_runtime.herald.ctx.queue = Recorder()
    assert idle_runtime.herald.sweep()["queued"] == 1
    assert sent == [("herald.publish_target", (target_id,))]


def test_concurrent_ticks_claim_each_target_once(idle_runtime: Runtime) -> None:
    for i in range(6):
        number = idle_runtime.herald.handle(MARIA, f"draft Post {i} --to outbox").post_number
        with idle_runtime.db.session() as s:
            post_id = s.scalars(select(Target.post_id).order_by(Target.id.desc())).first()
        assert post_id is not None
        idle_runtime.herald.generate(post_id)
        idle_runtime.herald.handle(MARIA, f"approve {number}")
    claimed: list[int] = []
    threads = [
        threading.Thread(target=lambda: claimed.append(idle_runtime.herald.dispatch_due()))
        for _ in range(3)
    ]
    for t in threads:
        t.start()
    for t in threads:
        t.join(30)
    assert sum(claimed) == 6
    with idle_runtime.db.session() as s:
        claims = s.scalars(select(AuditEvent).where(AuditEvent.action == "target.claim")).all()
        assert len(claims) == 6


def test_expired_token_fails_with_a_reconnect_hint(idle_runtime: Runtime) -> None:
    from core.errors import TokenExpired

    target_id = approved_and_queued(idle_runtime)
    flaky_outbox(
        idle_runtime, [TokenExpired("the access token expired on 1 Dec")], post_first=False
    )
    idle_runtime.herald.publish(target_id)
    assert target_states(idle_runtime, 1) == {"outbox": "failed"}
    assert messages(idle_runtime)[-1].text == (
        "⚠ #1 failed on Outbox: the access token expired on 1 Dec. Reconnect: connect outbox"
    )
