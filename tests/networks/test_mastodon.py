"""Publishing to Mastodon against a local fake instance."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from core.errors import ContentRejected, RateLimited, TokenExpired, Transient
from tests.support.platforms import make_request, put_media, tiny_png

pytestmark = pytest.mark.network("mastodon")


def test_status_with_image_and_idempotency_key(rt, fake) -> None:
    media = put_media(rt, "1/a.png", tiny_png(), "image/png", "A red square")
    publisher = rt.herald.ctx.publishers["mastodon"]
    result = publisher.publish(make_request(rt, "mastodon", "Hello fediverse", media=(media,)))
    (status,) = fake.statuses
    assert result.external_id == status["id"]
    assert result.url == status["url"]
    assert status["media_attachments"] == [{"id": next(iter(fake.media))}]
    assert next(iter(fake.media.values()))["description"] == "A red square"
    (post,) = fake.seen("/api/v1/statuses", "POST")
    assert post.headers["Idempotency-Key"] == "herald-1-1-1"
    # A second attempt with the same key is the same status, not a second one.
    again = publisher.publish(make_request(rt, "mastodon", "Hello fediverse"))
    assert again.external_id == result.external_id
    assert len(fake.statuses) == 1


def test_video_waits_for_processing(rt, fake) -> None:
    media = put_media(rt, "1/v.mp4", b"\0" * 1000, "video/mp4")
    rt.herald.ctx.publishers["mastodon"].publish(
        make_request(rt, "mastodon", "Clip", media=(media,))
    )
    assert fake.processing_polls >= 1
    assert len(fake.statuses) == 1


@pytest.mark.parametrize(
    ("status", "body", "headers", "error", "words"),
    [
        (401, {"error": "The access token was revoked"}, {}, TokenExpired, "reconnect"),
        (
            429,
            {"error": "Too many requests"},
            {"X_RateLimit_Reset": "2030-01-01T00:00:00.000Z", "X_RateLimit_Remaining": "0"},
            RateLimited,
            "rate limiting",
        ),
        (503, {"error": "unavailable"}, {}, Transient, "503"),
        (
            422,
            {"error": "Validation failed: Text can't be blank"},
            {},
            ContentRejected,
            "Text can't be blank",
        ),
    ],
)
def test_errors(rt, fake, status, body, headers, error, words) -> None:
    fake.fail_next("post", status, body, **headers)
    with pytest.raises(error, match=words) as caught:
        rt.herald.ctx.publishers["mastodon"].publish(make_request(rt, "mastodon"))
    if error is RateLimited:
        assert caught.value.until.year == 2030


def test_media_error_is_a_content_rejection(rt, fake) -> None:
    media = put_media(rt, "1/a.png", tiny_png(), "image/png")
    fake.fail_next("media", 422, {"error": "Validation failed: File content type is invalid"})
    with pytest.raises(ContentRejected, match="content type is invalid"):
        rt.herald.ctx.publishers["mastodon"].publish(make_request(rt, "mastodon", media=(media,)))
    assert fake.statuses == []


def test_find_reconciles_from_recent_statuses(rt, fake) -> None:
    publisher = rt.herald.ctx.publishers["mastodon"]
    request = make_request(rt, "mastodon", "Line one\nLine two https://example.com/x")
    assert publisher.find(request) is None
    result = publisher.publish(request)
    assert publisher.find(request) == result


def test_a_429_with_only_retry_after_waits_that_long(rt, fake) -> None:
    # A proxy in front of the instance may answer the 429 with Retry-After and no reset.
    fake.fail_next("post", 429, {"error": "Too many requests"}, Retry_After="120")
    before = datetime.now(UTC)
    with pytest.raises(RateLimited) as caught:
        rt.herald.ctx.publishers["mastodon"].publish(make_request(rt, "mastodon"))
    assert timedelta(seconds=119) <= caught.value.until - before <= timedelta(seconds=125)
    assert fake.statuses == []
