"""Publishing to X against a local fake of API v2 that validates requests with X's OpenAPI spec."""

from __future__ import annotations

import threading
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import select, update

from bot.kit import QUICK_ACTIONS
from bot.telegram.render import keyboard
from bot.telegram.tokens import Intent, TokenCodec
from core.errors import ContentRejected, RateLimited, TokenExpired, Transient
from core.ports import PublishRequest
from core.twitter_text import weighted_length
from storage.models import ConnectedAccount, Post, Target
from tests.fakes.x import x_schema_errors
from tests.support.helpers import actor, eventually, messages, post_state, target_states
from tests.support.platforms import make_request, tiny_png

MARIA = actor("maria")


pytestmark = pytest.mark.network("x", connect=False, x_client_id="herald-client")


def request(rt, text: str = "Hello from Herald", **kw) -> PublishRequest:
    return make_request(rt, "x", text, **kw)


def test_draft_to_x_is_refused_until_connected_then_publishes(live, fake) -> None:
    reply = live.herald.handle(MARIA, "draft Our API is live --to x")
    assert reply.error
    assert "X is not connected here yet" in (reply.text or "")
    fake.connect(live)
    reply = live.herald.handle(MARIA, "draft Our API is live --to x")
    assert not reply.error, reply.text
    eventually(lambda: post_state(live, 1) == "pending_approval", what="the card")
    live.herald.handle(MARIA, "approve 1")
    eventually(lambda: target_states(live, 1) == {"x": "published"}, what="publish")
    assert len(fake.posts) == 1
    assert "API is live" in fake.posts[0]["text"]
    assert fake.schema_errors == []
    published = [m.text for m in messages(live) if m.text and m.text.startswith("🚀")]
    assert published == [f"🚀 #1 published · X: https://x.com/acme/status/{fake.posts[0]['id']}"]


def test_thread_replies_to_the_previous_post_and_matches_the_spec(rt, fake) -> None:
    fake.connect(rt)
    x = rt.herald.ctx.publishers["x"]
    result = x.publish(request(rt, "1/3 The plan", parts=("2/3 The why", "3/3 The how")))
    assert [p["text"] for p in fake.posts] == ["1/3 The plan", "2/3 The why", "3/3 The how"]
    assert "reply" not in fake.posts[0]
    assert fake.posts[1]["reply"] == {"in_reply_to_tweet_id": fake.posts[0]["id"]}
    assert fake.posts[2]["reply"] == {"in_reply_to_tweet_id": fake.posts[1]["id"]}
    assert result.external_id == fake.posts[0]["id"]
    for seen in fake.seen("/2/tweets", "POST"):
        assert x_schema_errors("CreatePostsRequest", seen.json) == []


def test_a_thread_cut_short_is_finished_not_restarted(rt, fake) -> None:
    fake.connect(rt)
    x = rt.herald.ctx.publishers["x"]
    fake.posts.append({"id": "1", "text": "warmup"})
    req = request(rt, "A part one", parts=("A part two", "A part three"))
    # The second part hits a 503: the first is out, so this is 'unknown', never a failure.
    original = fake.create
    calls = {"n": 0}

    def flaky(seen):
        calls["n"] += 1
        if calls["n"] == 2:
            from tests.fakes.server import reply

            return reply(503, {"title": "Service Unavailable", "status": 503})
        return original(seen)

    fake.create = flaky
    with pytest.raises(Transient, match="stopped after part 1 of 3"):
        x.publish(req)
    assert x.find(req) is None  # half a thread is not "published"
    result = x.publish(req)
    texts = [p["text"] for p in fake.posts]
    assert texts == ["warmup", "A part one", "A part two", "A part three"]
    assert result.external_id == fake.posts[1]["id"]
    assert fake.posts[2]["reply"]["in_reply_to_tweet_id"] == fake.posts[1]["id"]
    assert x.find(req) == result


def test_image_is_uploaded_with_alt_text_and_attached(rt, fake) -> None:
    fake.connect(rt)

    hub = rt.herald.ctx.need_hub()
    hub.media.put("1/cat.png", tiny_png(), "image/png")
    media = ({"key": "1/cat.png", "content_type": "image/png", "alt": "A red square"},)
    rt.herald.ctx.publishers["x"].publish(request(rt, "With a picture", media=media))
    (media_id,) = fake.posts[0]["media"]["media_ids"]
    assert fake.media[media_id]["category"] == "tweet_image"
    assert fake.media[media_id]["alt"] == "A red square"
    upload = fake.seen("/2/media/upload", "POST")[0]
    assert upload.files["media"] == tiny_png()


def test_video_goes_through_chunked_upload(rt, fake) -> None:
    fake.connect(rt)

    rt.herald.ctx.need_hub().media.put("1/clip.mp4", b"\0" * 5_000_000, "video/mp4")
    media = ({"key": "1/clip.mp4", "content_type": "video/mp4"},)
    rt.herald.ctx.publishers["x"].publish(request(rt, "With a clip", media=media))
    (media_id,) = fake.posts[0]["media"]["media_ids"]
    assert fake.media[media_id]["size"] == 5_000_000
    assert len(fake.seen("/append")) == 2
    assert fake.seen("/finalize")


@pytest.mark.parametrize(
    ("status", "body", "headers", "error", "words"),
    [
        (
            403,
            {
                "detail": "You are not allowed to create a Tweet with duplicate content.",
                "type": "about:blank",
                "title": "Forbidden",
                "status": 403,
            },
            {},
            ContentRejected,
            "duplicate",
        ),
        (
            429,
            {
                "title": "Too Many Requests",
                "detail": "Too Many Requests",
                "type": "about:blank",
                "status": 429,
            },
            {"x_rate_limit_reset": "4102444800", "x_rate_limit_remaining": "0"},
            RateLimited,
            "rate limiting",
        ),
        (503, {"title": "Service Unavailable", "status": 503}, {}, Transient, "HTTP 503"),
        (
            400,
            {"errors": [{"message": "text is too long"}], "title": "Invalid Request"},
            {},
            ContentRejected,
            "text is too long",
        ),
    ],
)
def test_errors_map_to_what_the_card_says(rt, fake, status, body, headers, error, words) -> None:
    fake.connect(rt)
    fake.fail_next("post", status, body, **headers)
    with pytest.raises(error, match=words) as caught:
        rt.herald.ctx.publishers["x"].publish(request(rt))
    if error is RateLimited:
        assert caught.value.until == datetime.fromtimestamp(4102444800, UTC)


def test_rate_limit_moves_the_target_and_the_next_one_waits_without_a_call(live, fake) -> None:
    fake.connect(live)
    reset = int((datetime.now(UTC) + timedelta(minutes=20)).timestamp())
    fake.fail_next(
        "post",
        429,
        {"title": "Too Many Requests", "status": 429},
        x_rate_limit_reset=str(reset),
        x_rate_limit_remaining="0",
    )
    live.herald.handle(MARIA, "draft First --to x")
    eventually(lambda: post_state(live, 1) == "pending_approval", what="the card")
    live.herald.handle(MARIA, "approve 1")
    eventually(
        lambda: any("asked us to slow down" in (m.text or "") for m in messages(live)),
        what="deferred",
    )
    assert target_states(live, 1) == {"x": "scheduled"}
    with live.db.session() as s:
        when = s.scalar(select(Target.scheduled_at))
    assert when == datetime.fromtimestamp(reset, UTC)
    calls = len(fake.seen("/2/tweets", "POST"))
    with pytest.raises(RateLimited):
        live.herald.ctx.publishers["x"].publish(request(live, "Another"))
    assert len(fake.seen("/2/tweets", "POST")) == calls  # known limit: no call made


def test_duplicate_content_fails_the_target_with_the_reason_and_buttons(live, fake) -> None:
    fake.connect(live)
    fake.fail_next(
        "post",
        403,
        {
            "detail": "You are not allowed to create a Tweet with duplicate content.",
            "status": 403,
            "title": "Forbidden",
        },
    )
    live.herald.handle(MARIA, "draft Same again --to x")
    eventually(lambda: post_state(live, 1) == "pending_approval", what="the card")
    live.herald.handle(MARIA, "approve 1")
    eventually(lambda: target_states(live, 1) == {"x": "failed"}, what="failed")
    failed = [m.text for m in messages(live) if m.text and "failed on X" in m.text]
    assert failed
    assert "duplicate" in failed[0]
    shown = live.herald.handle(MARIA, "show 1")
    assert shown.card is not None
    assert [b.label for b in shown.card.buttons] == ["Retry", "Next free slot", "Skip X"]
    assert "duplicate" in (shown.card.variants[0].reason or "")
    # The same card on Telegram: every button is there and says what it does when pressed.
    codec = TokenCodec([b"k" * 32])
    markup = keyboard(codec, 42, shown.card)
    assert markup is not None
    pressed = [codec.open(42, str(b.callback_data)) for row in markup.inline_keyboard for b in row]
    assert pressed == [Intent("retry", 1), Intent("slot", 1), Intent("skip", 1, "x")]
    assert all(intent is not None and intent.action in QUICK_ACTIONS for intent in pressed)


def test_expired_token_is_renewed_once_by_many_workers(rt, fake) -> None:
    fake.connect(rt, expires_in=timedelta(seconds=30))  # inside the refresh margin
    x = rt.herald.ctx.publishers["x"]
    barrier = threading.Barrier(4)
    errors: list[Exception] = []

    def go(i: int) -> None:
        barrier.wait()
        try:
            x.publish(request(rt, f"Parallel {i}"))
        except Exception as exc:  # noqa: BLE001 - collected and asserted below
            errors.append(exc)

    threads = [threading.Thread(target=go, args=(i,)) for i in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(30)
    assert errors == []
    assert fake.refresh_calls == 1
    assert len(fake.posts) == 4
    with rt.db.session() as s:
        account = s.scalars(select(ConnectedAccount)).one()
        assert account.expires_at is not None
        assert account.expires_at > datetime.now(UTC) + timedelta(hours=1)


def test_revoked_token_fails_with_reconnect_and_marks_the_account(rt, fake) -> None:
    fake.connect(rt)
    fake.access_tokens.clear()
    fake.refresh_tokens.clear()
    with pytest.raises(TokenExpired, match="reconnect"):
        rt.herald.ctx.publishers["x"].publish(request(rt))
    with rt.db.session() as s:
        assert s.scalar(select(ConnectedAccount.status)) == "expired"
    listing = rt.herald.handle(MARIA, "accounts").text or ""
    assert "X · @acme · ⚠ expired: reconnect with connect x" in listing


def test_unknown_outcome_is_reconciled_from_the_timeline(rt, fake) -> None:
    fake.connect(rt)
    x = rt.herald.ctx.publishers["x"]
    req = request(rt, "Did it post?")
    assert x.find(req) is None
    x.publish(req)
    found = x.find(req)
    assert found is not None
    assert found.external_id == fake.posts[0]["id"]


def test_media_error_is_a_content_rejection(rt, fake) -> None:
    fake.connect(rt)

    rt.herald.ctx.need_hub().media.put("1/bad.png", b"not an image", "image/png")
    fake.fail_next("media", 400, {"title": "Invalid Request", "detail": "media type unrecognized"})
    with pytest.raises(ContentRejected, match="media type unrecognized"):
        rt.herald.ctx.publishers["x"].publish(
            request(rt, media=({"key": "1/bad.png", "content_type": "image/png"},))
        )
    assert fake.posts == []


def test_thread_through_the_pipeline(live, fake) -> None:
    fake.connect(live)
    live.herald.handle(MARIA, "draft Launch thread --to x")
    eventually(lambda: post_state(live, 1) == "pending_approval", what="the card")
    with live.db.session() as s:
        s.execute(update(Target).values(parts=["Part two", "Part three"]))
        assert s.scalar(select(Post.number)) == 1
    live.herald.handle(MARIA, "approve 1")
    eventually(lambda: target_states(live, 1) == {"x": "published"}, what="publish")
    assert [p["text"] for p in fake.posts][1:] == ["Part two", "Part three"]


def test_a_long_offline_draft_goes_out_as_a_thread_that_fits(live, fake) -> None:
    """Issue 14: with no model, a brief too long for one post is drafted as a thread (not cut
    with "…"), and every post of it reaches X within the limit, each replying to the last."""
    fake.connect(live)
    sentences = [
        "We rebuilt the importer from scratch.",
        "Large spreadsheets now load without timeouts, even with a million rows and dozens of "
        "sheets.",
        "Errors point to the exact row and column, so fixing a file takes one pass instead of "
        "five.",
        "Imports run in the background, and you get a message when they are done.",
        "Duplicate rows are found and merged before anything is saved.",
        "Every import can be undone for thirty days.",
    ]
    link = "https://example.com/docs/importer"
    live.herald.handle(MARIA, "voice disclosure #ad")
    reply = live.herald.handle(
        MARIA, f"draft {' '.join(sentences)} Read the guide at {link} --to x"
    )
    assert not reply.error, reply.text
    eventually(lambda: post_state(live, 1) == "pending_approval", what="the card")
    card = next(m.card for m in messages(live) if m.card is not None)
    assert card.variants[0].warnings == ["Split into a thread of 2 posts to fit X."]
    assert "…" not in card.variants[0].text
    live.herald.handle(MARIA, "approve 1")
    eventually(lambda: target_states(live, 1) == {"x": "published"}, what="publish")
    texts = [p["text"] for p in fake.posts]
    assert len(texts) == 2
    assert all(weighted_length(text) <= 280 for text in texts)
    assert " 1/2\n\n#ad" in texts[0]
    assert "#ad" in texts[0]
    assert fake.posts[1]["reply"] == {"in_reply_to_tweet_id": fake.posts[0]["id"]}
    assert fake.schema_errors == []
    published = " ".join(texts)
    for sentence in sentences:
        assert sentence in published
    assert texts[-1].endswith(f"Read the guide at {link} 2/2")


def test_editing_a_thread_replaces_all_of_it(live, fake) -> None:
    """An edit of X's text replaces the whole thread: before, the edited first post went out
    followed by the old draft's posts 2..N."""
    fake.connect(live)
    long_brief = " ".join(
        f"Sentence number {i} says something new about the importer." for i in range(12)
    )
    live.herald.handle(MARIA, f"draft {long_brief} --to x")
    eventually(lambda: post_state(live, 1) == "pending_approval", what="the card")
    card = next(m.card for m in messages(live) if m.card is not None)
    assert card.variants[0].warnings[0].startswith("Split into a thread of")
    reply = live.herald.handle(MARIA, "edit 1 x The importer is rebuilt. Try it today.")
    assert not reply.error, reply.text
    assert reply.card is not None and "thread is now this one post" in (reply.card.note or "")
    live.herald.handle(MARIA, "approve 1")
    eventually(lambda: target_states(live, 1) == {"x": "published"}, what="publish")
    assert [p["text"] for p in fake.posts] == ["The importer is rebuilt. Try it today."]
