"""Only unclear outcomes use publish attempts: a deferral, a known limit or a database error
before the network call costs none."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta
from typing import Any

import pytest
from sqlalchemy import select, update
from sqlalchemy.exc import OperationalError

from bot.runtime import Runtime
from core.errors import RateLimited, Transient
from storage.models import AttemptState, PublishAttempt, Target
from storage.models_networks import AccountState
from tests.fakes.mastodon import FakeMastodon
from tests.support.helpers import actor, messages, outbox_files, target_states
from tests.support.platforms import approved_and_queued, flaky_outbox, runtime_with

MARIA = actor("maria")


def _attempts(rt: Runtime, target_id: int) -> tuple[int, list[AttemptState]]:
    with rt.db.session() as s:
        target = s.get(Target, target_id)
        assert target is not None
        rows = s.scalars(
            select(PublishAttempt.state)
            .where(PublishAttempt.target_id == target_id)
            .order_by(PublishAttempt.number)
        ).all()
        return target.attempts, list(rows)


def _due_now(rt: Runtime, target_id: int) -> None:
    """The deferral's slot has come (the test does not wait out the network's window)."""
    past = rt.herald.ctx.clock.now() - timedelta(seconds=1)
    with rt.db.session() as s:
        s.execute(update(Target).where(Target.id == target_id).values(scheduled_at=past))


def test_rate_limits_then_an_unclear_answer_do_not_give_up(idle_runtime: Runtime) -> None:
    rt = idle_runtime
    target_id = approved_and_queued(rt)
    until = rt.herald.ctx.clock.now() + timedelta(minutes=15)
    flaky = flaky_outbox(
        rt,
        [RateLimited("429", until), RateLimited("429", until), Transient("503 from the network")],
        post_first=False,
    )
    rt.herald.publish(target_id)  # 429
    _due_now(rt, target_id)
    assert rt.herald.dispatch_due() == 1
    rt.herald.publish(target_id)  # 429
    _due_now(rt, target_id)
    assert rt.herald.dispatch_due() == 1
    rt.herald.publish(target_id)  # 503: unclear
    assert target_states(rt, 1) == {"outbox": "unknown"}
    rt.herald.reconcile(target_id)  # not there: the second real try goes out
    assert target_states(rt, 1) == {"outbox": "published"}
    assert flaky.calls == 4
    assert len(outbox_files(rt)) == 1
    assert not any("gave up" in (m.text or "") for m in messages(rt))
    used, states = _attempts(rt, target_id)
    assert states.count(AttemptState.UNKNOWN) == 1
    assert used == 2  # the unclear one and the one that succeeded; the 429s cost nothing


@pytest.fixture
def masto(settings: Any, fake_mastodon: FakeMastodon) -> Iterator[tuple[Runtime, int]]:
    rt = runtime_with(settings, worker=False)
    yield rt, fake_mastodon.connect(rt)
    rt.close()


def test_picked_up_while_rate_limited_costs_no_attempt(
    masto: tuple[Runtime, int], fake_mastodon: FakeMastodon
) -> None:
    rt, account = masto
    target_id = approved_and_queued(rt, "mastodon")
    hub = rt.herald.ctx.need_hub()
    hub.note_limit(account, hub.clock() + timedelta(minutes=10), "the limit is used up")
    rt.herald.publish(target_id)
    assert target_states(rt, 1) == {"mastodon": "scheduled"}
    assert fake_mastodon.seen("/api/v1/statuses", "POST") == []
    assert _attempts(rt, target_id)[0] == 0
    with rt.db.session() as s:
        s.execute(update(AccountState).values(rate_limited_until=None))
    _due_now(rt, target_id)
    assert rt.herald.dispatch_due() == 1
    rt.herald.publish(target_id)
    assert target_states(rt, 1) == {"mastodon": "published"}
    assert _attempts(rt, target_id)[0] == 1
    assert len(fake_mastodon.statuses) == 1


def test_database_error_before_the_call_is_not_an_unclear_answer(
    masto: tuple[Runtime, int], fake_mastodon: FakeMastodon, monkeypatch: pytest.MonkeyPatch
) -> None:
    rt, _ = masto
    target_id = approved_and_queued(rt, "mastodon")
    hub = rt.herald.ctx.need_hub()
    real = hub.account
    calls = {"n": 0}

    def flaky_account(*args: Any, **kwargs: Any) -> Any:
        calls["n"] += 1
        if calls["n"] == 1:
            raise OperationalError("SELECT", {}, Exception("server closed the connection"))
        return real(*args, **kwargs)

    monkeypatch.setattr(hub, "account", flaky_account)
    rt.herald.publish(target_id)
    assert target_states(rt, 1) == {"mastodon": "scheduled"}
    assert fake_mastodon.seen("/api/v1/statuses", "POST") == []
    used, states = _attempts(rt, target_id)
    assert used == 0
    assert AttemptState.UNKNOWN not in states
    assert not any("did not answer clearly" in (m.text or "") for m in messages(rt))
    with rt.db.session() as s:
        target = s.get(Target, target_id)
        assert target is not None and target.failure_reason is None
    _due_now(rt, target_id)
    assert rt.herald.dispatch_due() == 1
    rt.herald.publish(target_id)
    assert target_states(rt, 1) == {"mastodon": "published"}
    assert len(fake_mastodon.statuses) == 1
