"""Publishing to a Facebook Page against a local fake of the Graph API."""

from __future__ import annotations

import pytest

from core.errors import ContentRejected, RateLimited, TokenExpired, Transient
from tests.support.platforms import make_request, put_media, tiny_png

pytestmark = pytest.mark.network("facebook")


def test_text_goes_to_the_feed_and_the_token_never_in_the_url(rt, fake) -> None:
    result = rt.herald.ctx.publishers["facebook"].publish(make_request(rt, "facebook", "Hi all"))
    (post,) = fake.posts
    assert post["message"] == "Hi all"
    assert result.external_id == post["id"]
    assert all("access_token" not in r.args for r in fake.requests)


def test_one_photo_goes_to_photos_with_the_caption(rt, fake) -> None:
    media = put_media(rt, "1/a.png", tiny_png(), "image/png")
    rt.herald.ctx.publishers["facebook"].publish(
        make_request(rt, "facebook", "Pic", media=(media,))
    )
    (post,) = fake.posts
    assert post["message"] == "Pic"
    assert fake.photos[post["attached"][0]]["size"] == len(tiny_png())


def test_several_photos_are_attached_to_one_feed_post(rt, fake) -> None:
    media = tuple(
        put_media(rt, f"1/{i}.png", tiny_png(color=(i, 0, 0)), "image/png") for i in range(3)
    )
    rt.herald.ctx.publishers["facebook"].publish(make_request(rt, "facebook", "Album", media=media))
    (post,) = fake.posts
    assert len(post["attached"]) == 3


@pytest.mark.parametrize(
    ("code", "status", "headers", "error", "words"),
    [
        (190, 401, {}, TokenExpired, "reconnect"),
        (
            32,
            400,
            {
                "x_business_use_case_usage": '{"1029384756":[{"type":"pages","call_count":100,'
                '"total_cputime":25,'
                '"total_time":25,"estimated_time_to_regain_access":19}]}'
            },
            RateLimited,
            "throttling",
        ),
        (2, 500, {}, Transient, "side"),
        (506, 400, {}, ContentRejected, "duplicate"),
        (368, 400, {}, ContentRejected, "temporarily blocked"),
    ],
)
def test_errors(rt, fake, code, status, headers, error, words) -> None:
    body = {
        "error": {
            "message": "msg",
            "type": "OAuthException",
            "code": code,
            "fbtrace_id": "EJplcsCHuLu",
        }
    }
    fake.fail_next("post", status, body, **headers)
    with pytest.raises(error, match=words) as caught:
        rt.herald.ctx.publishers["facebook"].publish(make_request(rt, "facebook"))
    if error is RateLimited:
        minutes = (caught.value.until - rt.herald.ctx.clock.now()).total_seconds() / 60
        assert 18 < minutes <= 19.1


def test_media_error_is_a_content_rejection(rt, fake) -> None:
    media = put_media(rt, "1/a.png", tiny_png(), "image/png")
    fake.fail_next(
        "media",
        400,
        {
            "error": {
                "message": "(#324) Requires upload file",
                "code": 324,
                "type": "OAuthException",
            }
        },
    )
    with pytest.raises(ContentRejected, match="Requires upload file"):
        rt.herald.ctx.publishers["facebook"].publish(make_request(rt, "facebook", media=(media,)))


def test_find_reconciles_from_page_posts(rt, fake) -> None:
    publisher = rt.herald.ctx.publishers["facebook"]
    request = make_request(rt, "facebook", "Find me")
    assert publisher.find(request) is None
    assert publisher.publish(request) == publisher.find(request)
