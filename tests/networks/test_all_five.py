"""Done when: a workspace publishes text and an image to all five networks through the pipeline."""

from __future__ import annotations

from core.settings import Settings
from tests.fakes.bluesky import FakeBluesky
from tests.fakes.facebook import FakeFacebook
from tests.fakes.linkedin import FakeLinkedIn
from tests.fakes.mastodon import FakeMastodon
from tests.fakes.x import FakeX
from tests.support.helpers import actor, eventually, messages, post_state, target_states
from tests.support.platforms import add_account, runtime_with, tiny_png

MARIA = actor("maria")
ALL = "x,mastodon,bluesky,linkedin,facebook"


def test_one_post_with_an_image_reaches_all_five_networks(
    settings: Settings,
    fake_x: FakeX,
    fake_mastodon: FakeMastodon,
    fake_bluesky: FakeBluesky,
    fake_linkedin: FakeLinkedIn,
    fake_facebook: FakeFacebook,
) -> None:
    x, masto, bsky, li, fb = fake_x, fake_mastodon, fake_bluesky, fake_linkedin, fake_facebook
    rt = runtime_with(
        settings,
        worker=True,
        **x.herald_settings(),
        **li.herald_settings(),
        **fb.herald_settings(),
    )
    try:
        for fake in (x, masto, bsky, fb):
            fake.connect(rt)
        person = "urn:li:person:1"  # a member, where the others post as a page or an account
        add_account(rt, "linkedin", person, "Maria", {"access_token": "li-token", "author": person})
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
