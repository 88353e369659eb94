"""Done when: a workspace publishes text and an image to all five networks through the pipeline."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.fakes.bluesky import FakeBluesky
from tests.fakes.facebook import FakeFacebook
from tests.fakes.linkedin import FakeLinkedIn
from tests.fakes.mastodon import FakeMastodon
from tests.fakes.server import FakeServer
from tests.fakes.x import FakeX
from tests.support.helpers import actor, eventually, messages, post_state, target_states
from tests.support.platforms import add_account, runtime_with, tiny_png

MARIA = actor("maria")
ALL = "x,mastodon,bluesky,linkedin,facebook"


@pytest.fixture
def fakes() -> Iterator[dict[str, FakeServer]]:
    servers = {
        "x": FakeX(),
        "mastodon": FakeMastodon(),
        "bluesky": FakeBluesky(),
        "linkedin": FakeLinkedIn(),
        "facebook": FakeFacebook(),
    }
    for server in servers.values():
        server.start()
    yield servers
    for server in servers.values():
        server.stop()


def test_one_post_with_an_image_reaches_all_five_networks(settings, fakes) -> None:
    x, masto, bsky, li, fb = (
        fakes[n] for n in ("x", "mastodon", "bluesky", "linkedin", "facebook")
    )
    rt = runtime_with(
        settings,
        worker=True,
        x_api_url=x.url,
        x_upload_url=x.url,
        linkedin_api_url=li.url,
        facebook_api_url=f"{fb.url}/v21.0",
    )
    try:
        add_account(
            rt,
            "x",
            "2244994945",
            "@acme",
            {"access_token": "x-access-1", "refresh_token": "x-refresh-1"},
        )
        add_account(
            rt,
            "mastodon",
            "acme@masto.test",
            "@acme@masto.test",
            {"instance": masto.url, "access_token": "masto-token", "id": "109"},
        )
        assert not rt.herald.handle(
            MARIA, f"connect bluesky {bsky.handle} {bsky.password} {bsky.url}"
        ).error
        add_account(
            rt,
            "linkedin",
            "urn:li:person:1",
            "Maria",
            {"access_token": "li-token", "author": "urn:li:person:1"},
        )
        add_account(rt, "facebook", fb.page_id, "Acme Page", {"page_token": "page-token"})
        x.static["/files/cat.png"] = ("image/png", tiny_png())

        reply = rt.herald.handle(MARIA, f"draft Our public API is live --to {ALL}")
        assert not reply.error, reply.text
        eventually(lambda: post_state(rt, 1) == "pending_approval", what="the card")
        reply = rt.herald.handle(MARIA, f"attach 1 {x.url}/files/cat.png A red square")
        assert not reply.error, reply.text
        rt.herald.handle(MARIA, "approve 1")
        eventually(
            lambda: set(target_states(rt, 1).values()) == {"published"},
            timeout=30,
            what="all five published",
        )
        assert len(x.posts) == 1
        assert x.posts[0]["media"]["media_ids"]
        assert len(masto.statuses) == 1
        assert masto.statuses[0]["media_attachments"]
        (record,) = bsky.records.values()
        assert record["embed"]["images"][0]["alt"] == "A red square"
        assert li.posts[0]["content"]["media"]["altText"] == "A red square"
        assert fb.posts[0]["attached"]
        published = [m.text for m in messages(rt) if m.text and m.text.startswith("🚀")]
        assert len(published) == 5
    finally:
        rt.close()
