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
from bot.terminal.render import choices_of
from core.errors import Transient
from core.jobs import Job
from core.platforms import http as h
from core.platforms.outbox import OutboxPublisher
from core.platforms.timing import IN_FLIGHT_SECONDS, MARGIN_SECONDS
from core.settings import Settings
from storage.models import Target, TargetState
from tests.fakes.facebook import FakeFacebook
from tests.fakes.linkedin import FakeLinkedIn
from tests.fakes.mastodon import FakeMastodon
from tests.fakes.server import FakeServer
from tests.fakes.x import FakeX
from tests.support.helpers import actor, messages, outbox_files, snapshot, target_states
from tests.support.platforms import (
    add_account,
    approved_and_queued,
    flaky_outbox,
    make_request,
    put_media,
    runtime_with,
    tiny_png,
)

MARIA = actor("maria")


def test_a_stale_attempt_is_reconciled_once_it_cannot_be_in_flight(
    idle_runtime: Runtime,
) -> None:
    rt = idle_runtime
    target_id = approved_and_queued(rt)
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
    approved_and_queued(rt)
    started = rt.herald.ctx.clock.now() - timedelta(seconds=IN_FLIGHT_SECONDS - 30)
    with rt.db.session() as s:
        s.execute(
            update(Target).values(
                state=TargetState.PUBLISHING, state_changed_at=started, attempts=1
            )
        )
    assert rt.herald.sweep()["publishing"] == 0
    assert target_states(rt, 1) == {"outbox": "publishing"}


def _request(rt: Runtime, target_id: int):
    from core.publishing import attempts

    with rt.db.session() as s:
        target = s.get(Target, target_id)
        assert target is not None
        return attempts.request_for(target)


def test_no_request_starts_after_the_publish_budget(fake_mastodon: FakeMastodon) -> None:
    """The bound `IN_FLIGHT_SECONDS` rests on: past the budget nothing more is sent."""
    with h.publish_budget(0.0), h.client(fake_mastodon.url) as http:
        time.sleep(0.01)
        with pytest.raises(Transient, match="too slow"):
            h.send(http, "Mastodon", "POST", "/api/v1/statuses", json={"status": "late"})
    assert fake_mastodon.requests == []


# --- more posts than one page between the attempt and its reconciliation ---------------------


def _runtime(settings: Settings, fake: FakeServer) -> Runtime:
    """A runtime (no worker) with one account on `fake`, as the OAuth callback stores it."""
    rt = runtime_with(settings, worker=False, **fake.herald_settings())
    fake.connect(rt)
    return rt


def _external_url(rt: Runtime, target_id: int) -> str | None:
    with rt.db.session() as s:
        target = s.get(Target, target_id)
        assert target is not None
        return target.external_url


FAKES: dict[str, type[FakeServer]] = {
    "mastodon": FakeMastodon,
    "x": FakeX,
    "linkedin": FakeLinkedIn,
    "facebook": FakeFacebook,
}
# Posts on the account between the attempt and its reconciliation: more than a page of each
# network's lookup (Mastodon 40, the others 100 at most) and of its old single read.
CROWD = {"mastodon": 45, "x": 120, "linkedin": 120, "facebook": 120}


def _posted_then_crowded(rt: Runtime, fake: Any, network: str) -> int:
    """The network stored the post and the answer was lost; then a crowd of other posts."""
    target_id = approved_and_queued(rt, network)
    fake.answer_lost = 1  # stored, then the connection is cut
    rt.herald.publish(target_id)
    assert target_states(rt, 1) == {network: "unknown"}
    for n in range(CROWD[network]):
        fake.post_elsewhere(f"Meanwhile, post {n}")
    return target_id


def _stored(fake: Any) -> list[dict[str, Any]]:
    return list(fake.statuses if isinstance(fake, FakeMastodon) else fake.posts)


@pytest.mark.parametrize("network", list(FAKES))
def test_the_post_is_found_behind_more_than_a_page_without_keys(
    settings: Settings, network: str
) -> None:
    """No idempotency key (Mastodon's ignored; the others have none), so only the lookup
    stands between an unclear attempt and a second post; X, LinkedIn and Facebook would
    refuse the second as a duplicate and the target would end `failed` though it is out."""
    fake: Any = FAKES[network]().start()
    if isinstance(fake, FakeMastodon):
        fake.honour_keys = False
    rt = _runtime(settings, fake)
    try:
        target_id = _posted_then_crowded(rt, fake, network)
        ours = _stored(fake)[0]
        rt.herald.reconcile(target_id)
        assert target_states(rt, 1) == {network: "published"}
        assert len(_stored(fake)) == CROWD[network] + 1  # no second copy
        with rt.db.session() as s:
            target = s.get(Target, target_id)
            assert target is not None and target.external_id == ours["id"]
    finally:
        rt.close()
        fake.stop()


@pytest.fixture(params=["x", "linkedin", "facebook"])
def refusing(request: pytest.FixtureRequest) -> Iterator[tuple[str, Any]]:
    """A network that refuses a repeated text, with its fake."""
    fake: Any = FAKES[request.param]().start()
    yield request.param, fake
    fake.stop()


def test_a_duplicate_refusal_of_our_own_post_is_published_after_confirming(
    settings: Settings, refusing: tuple[str, Any]
) -> None:
    network, fake = refusing
    rt = _runtime(settings, fake)
    try:
        target_id = _posted_then_crowded(rt, fake, network)
        ours = fake.posts[0]
        # As an older Herald left it: the lookup missed, the repost was refused as a duplicate.
        with rt.db.session() as s:
            s.execute(update(Target).values(state=TargetState.FAILED, failure_reason="a duplicate"))
        name = {"x": "X", "linkedin": "LinkedIn", "facebook": "Facebook"}[network]
        assert rt.herald.handle(MARIA, "retry 1").text == f"Retrying #1 on {name} now."
        assert rt.herald.dispatch_due() == 1
        rt.herald.publish(target_id)  # refused as a duplicate; Herald looks and finds its own
        assert target_states(rt, 1) == {network: "published"}
        assert len(fake.posts) == CROWD[network] + 1
        url = _external_url(rt, target_id)
        assert url is not None and url.rstrip("/").endswith(ours["id"].split(":")[-1])
        assert messages(rt)[-1].text == f"🚀 #1 published · {name}: {url}"
    finally:
        rt.close()


def test_a_duplicate_of_an_older_post_is_still_a_failure(settings: Settings, fake_x: FakeX) -> None:
    rt = _runtime(settings, fake_x)
    try:
        target_id = approved_and_queued(rt, "x")
        with rt.db.session() as s:
            text = s.scalars(select(Target.text)).one()
        # The same words, posted by someone a day before Herald ever tried.
        fake_x.posts.append({"id": "7", "text": text, "created_at": "2026-01-01T00:00:00.000Z"})
        rt.herald.publish(target_id)
        assert target_states(rt, 1) == {"x": "failed"}
        assert "duplicate" in (messages(rt)[-1].text or "")
    finally:
        rt.close()


# --- matching is symmetric ---------------------------------------------------------------------


# What we send, and what each network turns it into when it lists posts.
TRICKY = {
    # HTML: escaped `<3` and `&`, a linked URL with invisible parts, paragraphs.
    "mastodon": "I <3 Herald & <b>friends</b>\n\nRead "
    "https://example.com/a/very/long/path/for/herald?x=1&y=2 today.",
    # Entities (&amp; &lt;) and links rewritten to t.co.
    "x": "Q&A <today>: https://example.com/q?a=1&b=2",
    # Reserved characters escaped, hashtags in LinkedIn's {hashtag|\#|…} template.
    "linkedin": "Launch (beta) #herald & *more*: https://example.com/x_y",
    "facebook": "Launch  day\n\nhttps://example.com/x",
}


@pytest.mark.parametrize("network", list(FAKES))
def test_lookup_matches_what_the_network_made_of_the_text(settings: Settings, network: str) -> None:
    fake: Any = FAKES[network]().start()
    rt = _runtime(settings, fake)
    try:
        publisher = rt.herald.ctx.publishers[network]
        request = make_request(rt, network, TRICKY[network])
        assert publisher.find(request) is None
        result = publisher.publish(request)
        assert publisher.find(request) == result
        assert publisher.find(make_request(rt, network, "Launch")) is None
    finally:
        rt.close()
        fake.stop()


# --- "Did this go out?" where the network can't be asked ---------------------------------------


@pytest.fixture
def member(settings: Settings, fake_linkedin: FakeLinkedIn) -> Iterator[Runtime]:
    """A LinkedIn member account: Herald may post as it but not read its posts."""
    rt = runtime_with(settings, worker=False, linkedin_api_url=fake_linkedin.url)
    author = "urn:li:person:782bbtaQ"
    add_account(rt, "linkedin", author, "Maria", {"access_token": "li-token", "author": author})
    yield rt
    rt.close()


def _unclear_on_linkedin(rt: Runtime) -> int:
    target_id = approved_and_queued(rt, "linkedin")
    rt.herald.publish(target_id)
    assert target_states(rt, 1) == {"linkedin": "unknown"}
    rt.herald.reconcile(target_id)
    return target_id


def test_a_network_that_cannot_be_asked_gets_a_question_not_a_second_post(
    member: Runtime, fake_linkedin: FakeLinkedIn
) -> None:
    rt = member
    fake_linkedin.answer_lost = 1
    target_id = _unclear_on_linkedin(rt)
    assert len(fake_linkedin.seen("/rest/posts", "POST")) == 1  # not posted again
    question = messages(rt)[-1]
    assert question.text == (
        "❓ Did #1 go out on LinkedIn? LinkedIn doesn't let Herald read a member's posts, so "
        "look at the account: posted 1 linkedin [link] if it's up, retry 1 linkedin to post it."
    )
    assert question.card is not None
    assert [(b.action, b.label, b.value) for b in question.card.buttons] == [
        ("posted", "Yes, it's up", "linkedin"),
        ("retry", "No, post it", "linkedin"),
    ]
    assert choices_of(question.card) == [
        ("Yes, it's up", "posted 1 linkedin"),
        ("No, post it", "retry 1 linkedin"),
    ]
    link = "https://www.linkedin.com/feed/update/urn:li:share:1/"
    reply = rt.herald.handle(MARIA, f"posted 1 linkedin {link}")
    assert reply.text == f"🚀 #1 marked published on LinkedIn: {link}."
    assert target_states(rt, 1) == {"linkedin": "published"}
    assert _external_url(rt, target_id) == link
    assert len(fake_linkedin.posts) == 1


def test_no_post_it_publishes_again(member: Runtime, fake_linkedin: FakeLinkedIn) -> None:
    rt = member
    fake_linkedin.fail_next("post", 504, {"status": 504, "message": "Gateway Timeout"})
    target_id = _unclear_on_linkedin(rt)
    assert target_states(rt, 1) == {"linkedin": "failed"}
    assert fake_linkedin.posts == []
    assert rt.herald.handle(MARIA, "retry 1 linkedin").text == "Retrying #1 on LinkedIn now."
    assert rt.herald.dispatch_due() == 1
    rt.herald.publish(target_id)
    assert target_states(rt, 1) == {"linkedin": "published"}
    assert len(fake_linkedin.posts) == 1


def test_only_a_waiting_question_can_be_answered_and_not_by_a_viewer(
    member: Runtime, fake_linkedin: FakeLinkedIn
) -> None:
    rt = member
    fake_linkedin.answer_lost = 1
    _unclear_on_linkedin(rt)
    rt.herald.handle(actor("lee"), "queue")  # lee joins first: one person has no roles
    assert rt.herald.handle(MARIA, "role lee viewer").error is False
    before = snapshot(rt)
    refused = rt.herald.handle(actor("lee"), "posted 1 linkedin")
    assert refused.error and "viewer" in (refused.text or "").lower()
    bad = rt.herald.handle(MARIA, "posted 1 linkedin javascript:alert(1)")
    assert bad.error and "https://" in (bad.text or "")
    other = rt.herald.handle(MARIA, "posted 1 x")
    assert other.error
    assert snapshot(rt) == before
    assert rt.herald.handle(MARIA, "posted 1 linkedin").text == (
        "🚀 #1 marked published on LinkedIn (no link given)."
    )
    again = rt.herald.handle(MARIA, "posted 1 linkedin")
    assert again.error and "no LinkedIn post waiting" in (again.text or "")


def test_the_question_renders_on_slack_and_telegram(
    member: Runtime, fake_linkedin: FakeLinkedIn
) -> None:
    from bot.slack.blocks import ACTION_PREFIX, card_blocks
    from bot.telegram.render import keyboard
    from bot.telegram.tokens import Intent, TokenCodec

    rt = member
    fake_linkedin.answer_lost = 1
    _unclear_on_linkedin(rt)
    card = messages(rt)[-1].card
    assert card is not None
    buttons = [
        (e["text"]["text"], e["action_id"].removeprefix(ACTION_PREFIX), e["value"])
        for block in card_blocks(card)
        if block["type"] == "actions"
        for e in block["elements"]
    ]
    assert buttons == [
        ("Yes, it's up", "posted_linkedin", "1 linkedin"),
        ("No, post it", "retry_linkedin", "1 linkedin"),
    ]
    codec = TokenCodec([b"k" * 32])
    markup = keyboard(codec, 42, card)
    assert markup is not None
    pressed = [
        (b.text, codec.open(42, str(b.callback_data)))
        for row in markup.inline_keyboard
        for b in row
    ]
    assert pressed == [
        ("Yes, it's up", Intent("posted", 1, "linkedin")),
        ("No, post it", Intent("retry", 1, "linkedin")),
    ]


def test_an_unclear_answer_is_looked_up_only_after_the_network_could_finish(
    idle_runtime: Runtime,
) -> None:
    """Our client gave up, but the network may still be storing the post: the lookup waits
    the margin, so it cannot run before the post appears and then post it again."""
    rt = idle_runtime
    target_id = approved_and_queued(rt)
    flaky_outbox(rt, [Transient("the network did not answer in time")], post_first=False)
    sent: list[tuple[str, tuple[int, ...], float | None]] = []
    inner = rt.herald.ctx.queue

    class Recorder:
        def enqueue(self, task: str, *args: int, countdown: float | None = None) -> None:
            sent.append((task, args, countdown))
            inner.enqueue(task, *args, countdown=countdown)

    rt.herald.ctx.queue = Recorder()
    rt.herald.publish(target_id)
    assert target_states(rt, 1) == {"outbox": "unknown"}
    (countdown,) = [c for task, args, c in sent if task == Job.RECONCILE]
    assert countdown is not None and countdown >= MARGIN_SECONDS


def test_a_lookup_that_cannot_read_back_far_enough_asks_a_person(
    settings: Settings, fake_mastodon: FakeMastodon, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(h, "MAX_LOOKUP_PAGES", 1)
    fake_mastodon.honour_keys = False
    rt = _runtime(settings, fake_mastodon)
    try:
        target_id = _posted_then_crowded(rt, fake_mastodon, "mastodon")
        rt.herald.reconcile(target_id)
        assert len(fake_mastodon.statuses) == CROWD["mastodon"] + 1  # not posted again
        question = messages(rt)[-1]
        assert (question.text or "").startswith("❓ Did #1 go out on Mastodon? Mastodon has too")
        assert question.card is not None
        assert [b.label for b in question.card.buttons] == ["Yes, it's up", "No, post it"]
    finally:
        rt.close()


def test_x_finds_a_post_with_media_whose_text_gained_a_media_link(
    settings: Settings, fake_x: FakeX
) -> None:
    rt = _runtime(settings, fake_x)
    try:
        publisher = rt.herald.ctx.publishers["x"]
        media = put_media(rt, "1/a.png", tiny_png(), "image/png")
        request = make_request(rt, "x", "Our new office", media=(media,))
        result = publisher.publish(request)
        assert publisher.find(request) == result
        assert publisher.find(make_request(rt, "x", "Our new office")) is None  # no media
    finally:
        rt.close()


def test_a_duplicate_refusal_that_cannot_be_checked_asks_a_person(
    member: Runtime, fake_linkedin: FakeLinkedIn
) -> None:
    rt = member
    target_id = approved_and_queued(rt, "linkedin")
    with rt.db.session() as s:
        text = s.scalars(select(Target.text)).one()
    fake_linkedin.post_elsewhere(text)  # already there (ours or not: LinkedIn won't say)
    rt.herald.publish(target_id)  # 422 duplicate, and a member's posts can't be read
    assert target_states(rt, 1) == {"linkedin": "failed"}
    question = messages(rt)[-1]
    assert (question.text or "").startswith("❓ Did #1 go out on LinkedIn?")
    assert question.card is not None
    assert [b.label for b in question.card.buttons] == ["Yes, it's up", "No, post it"]
    assert len(fake_linkedin.posts) == 1
