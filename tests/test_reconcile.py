"""Reconciliation finds what went out: soon after an attempt can no longer be in flight, back
to the attempt's start however many posts came since, by text compared the same way on both
sides, and through a network's "duplicate" refusal."""

from __future__ import annotations

import time
from collections.abc import Iterator
from datetime import timedelta
from typing import Any

import pytest
from sqlalchemy import select, update

from bot.runtime import Runtime
from core.errors import Transient
from core.platforms import http as h
from core.platforms.outbox import OutboxPublisher
from core.platforms.timing import IN_FLIGHT_SECONDS
from core.settings import Settings
from storage.models import Target, TargetState
from tests import test_platform_mastodon
from tests.conftest import actor
from tests.fakes_platforms import (
    FakeMastodon,
    FakeServer,
    FakeX,
    add_account,
    make_request,
    runtime_with,
)
from tests.helpers import messages, outbox_files, target_states
from tests.test_pipeline import _approved_and_queued
from tests.test_platform_x import connect as connect_x

MARIA = actor("maria")

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


# --- more posts than one page between the attempt and its reconciliation ---------------------


@pytest.fixture
def x_fake() -> Iterator[FakeX]:
    server = FakeX().start()
    yield server
    server.stop()


def _runtime(settings: Settings, network: str, fake: FakeServer) -> Runtime:
    """A runtime (no worker) with one account on `fake`, as the OAuth callback stores it."""
    urls = {"x": {"x_api_url": fake.url, "x_upload_url": fake.url}}
    rt = runtime_with(settings, worker=False, **urls.get(network, {}))
    if network == "x":
        connect_x(rt)
    else:
        credentials = {"instance": fake.url, "access_token": "masto-token", "id": "109"}
        add_account(rt, "mastodon", "acme@masto.test", "@acme@masto.test", credentials)
    return rt


def _external_url(rt: Runtime, target_id: int) -> str | None:
    with rt.db.session() as s:
        target = s.get(Target, target_id)
        assert target is not None
        return target.external_url


def test_mastodon_without_keys_finds_the_post_behind_a_full_page(
    settings: Settings, mastodon_fake: FakeMastodon
) -> None:
    mastodon_fake.honour_keys = False
    rt = _runtime(settings, "mastodon", mastodon_fake)
    try:
        target_id = _approved_and_queued(rt, "mastodon")
        mastodon_fake.answer_lost = 1  # stored, then the connection is cut
        rt.herald.publish(target_id)
        assert target_states(rt, 1) == {"mastodon": "unknown"}
        ours = mastodon_fake.statuses[0]
        for n in range(45):  # more than the 40 a page holds
            mastodon_fake.add_status(f"Meanwhile, post {n}")
        rt.herald.reconcile(target_id)
        assert target_states(rt, 1) == {"mastodon": "published"}
        assert len(mastodon_fake.statuses) == 46  # no second copy
        assert _external_url(rt, target_id) == ours["url"]
    finally:
        rt.close()


def _x_posted_then_crowded(rt: Runtime, x_fake: FakeX) -> tuple[int, dict[str, Any]]:
    """X stored the post and the answer was lost; then more posts than a page came."""
    target_id = _approved_and_queued(rt, "x")
    x_fake.answer_lost = 1
    rt.herald.publish(target_id)
    assert target_states(rt, 1) == {"x": "unknown"}
    for n in range(120):  # more than the 100 a page holds
        x_fake.post_elsewhere(f"Meanwhile, post {n}")
    return target_id, x_fake.posts[0]


def test_x_finds_the_post_behind_a_full_page_instead_of_a_false_failure(
    settings: Settings, x_fake: FakeX
) -> None:
    rt = _runtime(settings, "x", x_fake)
    try:
        target_id, ours = _x_posted_then_crowded(rt, x_fake)
        rt.herald.reconcile(target_id)
        assert target_states(rt, 1) == {"x": "published"}
        assert len(x_fake.posts) == 121
        assert _external_url(rt, target_id) == f"https://x.com/acme/status/{ours['id']}"
        assert x_fake.seen("/2/tweets", "POST")[1:] == []  # looked up, never posted again
    finally:
        rt.close()


def test_a_duplicate_refusal_of_our_own_post_is_published_after_confirming(
    settings: Settings, x_fake: FakeX
) -> None:
    rt = _runtime(settings, "x", x_fake)
    try:
        target_id, ours = _x_posted_then_crowded(rt, x_fake)
        # As an older Herald left it: the lookup missed, the repost was refused as a duplicate.
        with rt.db.session() as s:
            s.execute(
                update(Target).values(
                    state=TargetState.FAILED, failure_reason="X refuses duplicate posts"
                )
            )
        assert rt.herald.handle(MARIA, "retry 1").text == "Retrying #1 on X now."
        assert rt.herald.dispatch_due() == 1
        rt.herald.publish(target_id)  # X: 403 duplicate; Herald looks and finds its own
        assert target_states(rt, 1) == {"x": "published"}
        assert _external_url(rt, target_id) == f"https://x.com/acme/status/{ours['id']}"
        assert len(x_fake.posts) == 121
        assert messages(rt)[-1].text == (
            f"🚀 #1 published · X: https://x.com/acme/status/{ours['id']}"
        )
    finally:
        rt.close()


def test_a_duplicate_of_an_older_post_is_still_a_failure(settings: Settings, x_fake: FakeX) -> None:
    rt = _runtime(settings, "x", x_fake)
    try:
        target_id = _approved_and_queued(rt, "x")
        with rt.db.session() as s:
            text = s.scalars(select(Target.text)).one()
        # The same words, posted by someone a day before Herald ever tried.
        x_fake.posts.append({"id": "7", "text": text, "created_at": "2026-01-01T00:00:00.000Z"})
        rt.herald.publish(target_id)
        assert target_states(rt, 1) == {"x": "failed"}
        assert "duplicate" in (messages(rt)[-1].text or "")
    finally:
        rt.close()


# --- matching is symmetric ---------------------------------------------------------------------


def test_mastodon_finds_a_status_whose_html_differs_from_the_text(
    settings: Settings, mastodon_fake: FakeMastodon
) -> None:
    rt = _runtime(settings, "mastodon", mastodon_fake)
    try:
        publisher = rt.herald.ctx.publishers["mastodon"]
        text = (
            "I <3 Herald & <b>friends</b>\n\nRead "
            "https://example.com/a/very/long/path/for/herald?x=1&y=2 today."
        )
        request = make_request(rt, "mastodon", text)
        assert publisher.find(request) is None
        result = publisher.publish(request)
        assert "&lt;3" in mastodon_fake.statuses[0]["content"]
        assert publisher.find(request) == result
        assert publisher.find(make_request(rt, "mastodon", "I <3 Herald")) is None
    finally:
        rt.close()


def test_x_finds_a_post_whose_text_came_back_escaped_with_tco_links(
    settings: Settings, x_fake: FakeX
) -> None:
    rt = _runtime(settings, "x", x_fake)
    try:
        publisher = rt.herald.ctx.publishers["x"]
        request = make_request(rt, "x", "Q&A <today>: https://example.com/q?a=1&b=2")
        result = publisher.publish(request)
        assert publisher.find(request) == result
    finally:
        rt.close()
