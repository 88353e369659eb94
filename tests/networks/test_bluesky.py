"""Publishing to Bluesky against a local fake PDS that validates records with the lexicons."""

from __future__ import annotations

import pytest
from sqlalchemy import select

from core.errors import ContentRejected, RateLimited, TokenExpired, Transient
from core.platforms.bluesky import facets, links, record_key
from storage.models import ConnectedAccount
from tests.fakes.bluesky import bluesky_record_errors
from tests.support.helpers import actor
from tests.support.platforms import make_request, put_media, tiny_png

MARIA = actor("maria")


pytestmark = pytest.mark.network("bluesky")


def test_facets_use_utf8_byte_offsets() -> None:
    text = "Café ☕ news: https://example.com/a #launch with @friend.bsky.social"
    found = facets(text, resolve=lambda handle: "did:plc:friend")
    raw = text.encode()
    spans = {f["features"][0]["$type"].split("#")[1]: f["index"] for f in found}
    link, tag, mention = spans["link"], spans["tag"], spans["mention"]
    assert raw[link["byteStart"] : link["byteEnd"]] == b"https://example.com/a"
    assert raw[tag["byteStart"] : tag["byteEnd"]] == b"#launch"
    assert raw[mention["byteStart"] : mention["byteEnd"]] == b"@friend.bsky.social"
    assert next(f for f in found if "tag" in f["features"][0])["features"][0]["tag"] == "launch"


def test_record_keys_are_valid_tids_stable_per_target() -> None:
    key = record_key("herald-1-2-3")
    assert key == record_key("herald-1-2-3")
    assert key != record_key("herald-1-2-4")
    assert len(key) == 13
    assert key[0] in "234567abcdefghij"


def test_connect_stores_the_session_sealed(rt, fake) -> None:
    with rt.db.session() as s:
        row = s.scalars(select(ConnectedAccount)).one()
        assert (row.network, row.account_id, row.display_name) == (
            "bluesky",
            fake.did,
            "@acme.bsky.social",
        )
        assert fake.password.encode() not in row.credentials
    assert "Bluesky · @acme.bsky.social · ok" in (rt.herald.handle(MARIA, "accounts").text or "")


def test_wrong_app_password_is_refused_plainly(rt, fake) -> None:
    reply = rt.herald.handle(MARIA, f"connect bluesky acme.bsky.social wrong {fake.url}")
    assert reply.error
    assert "Bluesky was not connected" in (reply.text or "")
    assert "Invalid identifier or password" in (reply.text or "")


def test_post_with_facets_and_image_matches_the_lexicons(rt, fake) -> None:
    media = put_media(rt, "1/a.png", tiny_png(), "image/png", "A red square")
    text = "Ship it 🚀 https://example.com #launch cc @friend.bsky.social"
    result = rt.herald.ctx.publishers["bluesky"].publish(
        make_request(rt, "bluesky", text, media=(media,))
    )
    (rkey, record) = next(iter(fake.records.items()))
    assert bluesky_record_errors(record) == []
    assert fake.record_errors == []
    assert rkey == record_key("herald-1-1-1")
    assert result.url == f"https://bsky.app/profile/acme.bsky.social/post/{rkey}"
    kinds = sorted(f["features"][0]["$type"] for f in record["facets"])
    assert kinds == [
        "app.bsky.richtext.facet#link",
        "app.bsky.richtext.facet#mention",
        "app.bsky.richtext.facet#tag",
    ]
    image = record["embed"]["images"][0]
    assert image["alt"] == "A red square"
    assert fake.blobs[image["image"]["ref"]["$link"]] == tiny_png()


def test_second_attempt_finds_the_first_post(rt, fake) -> None:
    publisher = rt.herald.ctx.publishers["bluesky"]
    request = make_request(rt, "bluesky", "Once only")
    assert publisher.find(request) is None
    first = publisher.publish(request)
    assert publisher.find(request) == first
    assert publisher.publish(request) == first
    assert len(fake.records) == 1


def test_expired_session_is_refreshed_once(rt, fake) -> None:
    fake.access.clear()  # every access token is now expired
    rt.herald.ctx.publishers["bluesky"].publish(make_request(rt, "bluesky", "After expiry"))
    assert fake.sessions_refreshed == 1
    assert len(fake.records) == 1


def test_revoked_app_password_asks_to_reconnect(rt, fake) -> None:
    fake.access.clear()
    fake.refresh.clear()
    fake.password = "revoked"
    with pytest.raises(TokenExpired, match=r"refused the login"):
        rt.herald.ctx.publishers["bluesky"].publish(make_request(rt, "bluesky"))


@pytest.mark.parametrize(
    ("status", "body", "headers", "error", "words"),
    [
        (
            429,
            {"error": "RateLimitExceeded", "message": "Rate Limit Exceeded"},
            {"ratelimit_reset": "4102444800", "ratelimit_remaining": "0"},
            RateLimited,
            "rate limiting",
        ),
        (502, {"error": "UpstreamFailure"}, {}, Transient, "502"),
        (
            400,
            {
                "error": "InvalidRequest",
                "message": "Record/text must not be longer than 300 graphemes",
            },
            {},
            ContentRejected,
            "300 graphemes",
        ),
    ],
)
def test_errors(rt, fake, status, body, headers, error, words) -> None:
    fake.fail_next("post", status, body, **headers)
    with pytest.raises(error, match=words):
        rt.herald.ctx.publishers["bluesky"].publish(make_request(rt, "bluesky"))


def test_blob_too_large_is_a_content_rejection(rt, fake) -> None:
    media = put_media(rt, "1/big.png", b"\0" * 2_100_000, "image/png")
    with pytest.raises(ContentRejected, match="too large"):
        rt.herald.ctx.publishers["bluesky"].publish(make_request(rt, "bluesky", media=(media,)))


@pytest.mark.parametrize(
    ("text", "found"),
    [
        ("see https://acme.test/launch.", ["https://acme.test/launch"]),
        ("docs at example.com/a?b=1, then", ["example.com/a?b=1"]),
        ("(read https://example.org/x)", ["https://example.org/x"]),
        ("https://en.wikipedia.org/wiki/Foo_(bar)", ["https://en.wikipedia.org/wiki/Foo_(bar)"]),
        ("file.notatld and notes.txt stay text", []),
        ("mail@example.com is not a link", []),
    ],
)
def test_links_are_found_as_blueskys_own_client_finds_them(text: str, found: list[str]) -> None:
    assert [text[start:end] for start, end in links(text)] == found
