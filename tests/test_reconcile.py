"""Reconciliation finds what went out: soon after an attempt can no longer be in flight, back
to the attempt's start however many posts came since, by text compared the same way on both
sides, and through a network's "duplicate" refusal."""

from __future__ import annotations

import time
from datetime import timedelta

import pytest
from sqlalchemy import update

from bot.runtime import Runtime
from core.errors import Transient
from core.platforms import http as h
from core.platforms.outbox import OutboxPublisher
from core.platforms.timing import IN_FLIGHT_SECONDS
from storage.models import Target, TargetState
from tests import test_platform_mastodon
from tests.fakes_platforms import FakeMastodon
from tests.helpers import outbox_files, target_states
from tests.test_pipeline import _approved_and_queued

# The fake Mastodon instance, the same fixture as the Mastodon tests use.
mastodon_fake = test_platform_mastodon.fake


def test_a_stale_attempt_is_reconciled_once_it_cannot_be_in_flight(
    idle_runtime: Runtime,
) -> None:
    rt = idle_runtime
    target_id = _approved_and_queued(rt)
    # The worker committed `publishing`, posted, then died.
    OutboxPublisher(rt.settings.outbox_dir).publish(_request(rt, target_id))
    started = rt.herald.ctx.clock.now() - timedelta(seconds=IN_FLIGHT_SECONDS + 5)
    with rt.db.session() as s:
        s.execute(
            update(Target).values(
                state=TargetState.PUBLISHING, state_changed_at=started, attempts=1
            )
        )
    assert IN_FLIGHT_SECONDS + 5 < 300  # well before the old fixed five minutes
    assert rt.herald.sweep()["publishing"] == 1
    assert target_states(rt, 1) == {"outbox": "unknown"}
    rt.herald.reconcile(target_id)
    assert target_states(rt, 1) == {"outbox": "published"}
    assert len(outbox_files(rt)) == 1


def test_an_attempt_still_in_flight_is_left_alone(idle_runtime: Runtime) -> None:
    rt = idle_runtime
    _approved_and_queued(rt)
    started = rt.herald.ctx.clock.now() - timedelta(seconds=IN_FLIGHT_SECONDS - 30)
    with rt.db.session() as s:
        s.execute(
            update(Target).values(
                state=TargetState.PUBLISHING, state_changed_at=started, attempts=1
            )
        )
    assert rt.herald.sweep()["publishing"] == 0
    assert target_states(rt, 1) == {"outbox": "publishing"}


def _request(rt: Runtime, target_id: int):  # type: ignore[no-untyped-def]
    from core import pipeline

    with rt.db.session() as s:
        target = s.get(Target, target_id)
        assert target is not None
        return pipeline._request(target)


def test_no_request_starts_after_the_publish_budget(mastodon_fake: FakeMastodon) -> None:
    """The bound `IN_FLIGHT_SECONDS` rests on: past the budget nothing more is sent."""
    with h.publish_budget(0.0), h.client(mastodon_fake.url) as http:
        time.sleep(0.01)
        with pytest.raises(Transient, match="too slow"):
            h.send(http, "Mastodon", "POST", "/api/v1/statuses", json={"status": "late"})
    assert mastodon_fake.requests == []
