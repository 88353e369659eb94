"""Publishing to LinkedIn against a local fake of the versioned Posts API."""

from __future__ import annotations

import pytest

from core.errors import ContentRejected, RateLimited, TokenExpired, Transient
from core.platforms.linkedin import escape
from tests.fakes.linkedin import unescaped_reserved
from tests.support.platforms import make_request, put_media, tiny_png

pytestmark = pytest.mark.network("linkedin")


def test_escaping_keeps_hashtags_and_escapes_the_rest() -> None:
    text = "Launch (beta) is live @ [acme] #launch 100% *great* a_b ~x~ | {y} <z> \\ # end"
    escaped = escape(text)
    assert unescaped_reserved(escaped) == []
    assert "#launch" in escaped
    assert "\\(beta\\)" in escaped


def test_organization_post_with_image(rt, fake) -> None:
    media = put_media(rt, "1/a.png", tiny_png(), "image/png", "A red square")
    text = "We're live (finally) #launch"
    result = rt.herald.ctx.publishers["linkedin"].publish(
        make_request(rt, "linkedin", text, media=(media,))
    )
    (post,) = fake.posts
    assert post["author"] == "urn:li:organization:5515715"
    assert post["commentary"] == "We're live \\(finally\\) #launch"
    assert post["content"]["media"]["altText"] == "A red square"
    assert fake.images[post["content"]["media"]["id"]] == tiny_png()
    assert result.external_id == post["id"]
    assert result.url == f"https://www.linkedin.com/feed/update/{post['id']}/"
    call = fake.seen("/rest/posts", "POST")[0]
    assert call.headers["Linkedin-Version"].isdigit()
    assert call.headers["X-Restli-Protocol-Version"] == "2.0.0"


@pytest.mark.parametrize(
    ("status", "body", "headers", "error", "words"),
    [
        (
            401,
            {"status": 401, "code": "INVALID_ACCESS_TOKEN", "message": "Invalid token"},
            {},
            TokenExpired,
            "reconnect",
        ),
        (
            429,
            {"status": 429, "message": "Resource level throttle limit reached"},
            {},
            RateLimited,
            "daily limit",
        ),
        (500, {"status": 500, "message": "Internal error"}, {}, Transient, "500"),
        (
            422,
            {"status": 422, "message": "Content is a duplicate of urn:li:share:1"},
            {},
            ContentRejected,
            "duplicate",
        ),
    ],
)
def test_errors(rt, fake, status, body, headers, error, words) -> None:
    fake.fail_next("post", status, body, **headers)
    with pytest.raises(error, match=words) as caught:
        rt.herald.ctx.publishers["linkedin"].publish(make_request(rt, "linkedin"))
    if error is RateLimited:
        assert caught.value.until.hour == 0  # daily quotas reset at midnight UTC


def test_find_matches_the_escaped_commentary(rt, fake) -> None:
    publisher = rt.herald.ctx.publishers["linkedin"]
    request = make_request(rt, "linkedin", "Find me (please)")
    assert publisher.find(request) is None
    result = publisher.publish(request)
    assert publisher.find(request) is not None
    assert publisher.find(request).external_id == result.external_id
