"""Reading posts' figures back from a local fake Bluesky PDS and its App View."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import select

from core.errors import PublishError, RateLimited, TokenExpired
from core.ports import FiguresRequest, Reading
from core.ssrf import SafeFetcher
from storage.models import ConnectedAccount
from tests.fakes.server import Seen
from tests.support.helpers import actor
from tests.support.platforms import make_request

pytestmark = pytest.mark.network("bluesky")

ZEROS = {"likeCount": 0, "repostCount": 0, "replyCount": 0, "quoteCount": 0}


def read(rt, uris: list[str]) -> dict[int, Reading]:
    """Targets 1, 2, … published as these posts."""
    ws = rt.herald.workspace_of(actor("maria"))
    asked = [FiguresRequest(n, "bluesky", uri, None, ws) for n, uri in enumerate(uris, 1)]
    got: dict[int, Reading] = rt.herald.ctx.publishers["bluesky"].read(asked)
    return got


def get_posts(fake) -> list[Seen]:
    seen: list[Seen] = fake.seen("app.bsky.feed.getPosts", "GET")
    return seen


def account_id(rt) -> int:
    with rt.db.session() as s:
        return int(s.scalars(select(ConnectedAccount.id)).one())


def test_figures_are_the_counts_of_the_post_view(rt, fake) -> None:
    published = rt.herald.ctx.publishers["bluesky"].publish(make_request(rt, "bluesky", "Hi"))
    other = fake.add_post("From the app")
    fake.react(published.external_id, likeCount=41, repostCount=6, replyCount=3, quoteCount=2)
    got = read(rt, [published.external_id, other])
    counts = {"likeCount": 41, "repostCount": 6, "replyCount": 3, "quoteCount": 2}
    assert got == {
        1: Reading(likes=41, reposts=6, replies=3, quotes=2, raw=counts),
        2: Reading(raw=ZEROS),
    }
    # Bluesky shows no impressions or clicks.
    assert all(r.impressions is None and r.clicks is None for r in got.values())
    (request,) = get_posts(fake)
    assert request.headers["Authorization"].startswith("Bearer ")


def test_sixty_posts_are_read_twenty_five_at_a_time(rt, fake) -> None:
    uris = [fake.add_post(f"Post {n}") for n in range(60)]
    for n, uri in enumerate(uris):
        fake.react(uri, likeCount=n, replyCount=n % 3)
    got = read(rt, uris)
    assert [(got[n + 1].likes, got[n + 1].replies) for n in range(60)] == [
        (n, n % 3) for n in range(60)
    ]
    assert len(get_posts(fake)) == 3
    assert fake.seen("getRecord") == []  # nothing was left out, nothing to check


def test_a_deleted_post_is_gone(rt, fake) -> None:
    kept, deleted = fake.add_post("Kept"), fake.add_post("Deleted later")
    fake.react(kept, likeCount=4)
    fake.delete(deleted)
    got = read(rt, [kept, deleted])
    assert got[1] == Reading(likes=4, raw={**ZEROS, "likeCount": 4})
    assert got[2] == Reading(gone=True)


def test_a_post_the_app_view_has_not_indexed_yet_is_not_read_this_time(rt, fake) -> None:
    seen, fresh = fake.add_post("Indexed"), fake.add_post("Just posted")
    fake.unindexed.add(fresh.rsplit("/", 1)[1])  # in the repository, not yet in the App View
    got = read(rt, [seen, fresh])
    assert list(got) == [1]  # target 2 is left out: not read, and not gone
    fake.unindexed.clear()
    assert read(rt, [seen, fresh])[2] == Reading(raw=ZEROS)


def test_an_expired_session_is_refreshed_once(rt, fake) -> None:
    uri = fake.add_post("After expiry")
    fake.react(uri, repostCount=5)
    fake.access.clear()  # every access token is now expired (400 ExpiredToken)
    assert read(rt, [uri])[1].reposts == 5
    assert fake.sessions_refreshed == 1


def test_a_429_names_the_reset_and_does_not_hold_back_a_post(rt, fake) -> None:
    uri = fake.add_post("Busy")
    reset = int((datetime.now(UTC) + timedelta(minutes=10)).timestamp())
    fake.fail_next(
        "read",
        429,
        {"error": "RateLimitExceeded", "message": "Rate Limit Exceeded"},
        ratelimit_reset=str(reset),
        ratelimit_remaining="0",
    )
    with pytest.raises(RateLimited, match="rate limiting") as caught:
        read(rt, [uri])
    assert caught.value.until == datetime.fromtimestamp(reset, UTC)
    # Reading's limit is not the account's posting limit: a post right after goes out.
    before = len(fake.records)
    rt.herald.ctx.publishers["bluesky"].publish(make_request(rt, "bluesky", "Still posting"))
    assert len(fake.records) == before + 1


@pytest.mark.parametrize("state", ["expired", "revoked"])
def test_an_expired_or_revoked_account_is_not_called(rt, fake, state: str) -> None:
    uri = fake.add_post("Nobody asks")
    rt.herald.ctx.need_hub().set_status(account_id(rt), state)
    before = len(fake.requests)
    assert read(rt, [uri]) == {}
    assert fake.requests[before:] == []


def test_a_revoked_app_password_says_reconnect_and_marks_the_account(rt, fake) -> None:
    uri = fake.add_post("Password gone")
    fake.access.clear()
    fake.refresh.clear()
    fake.password = "revoked"
    with pytest.raises(TokenExpired, match="refused the login"):
        read(rt, [uri])
    with rt.db.session() as s:
        assert s.get_one(ConnectedAccount, account_id(rt)).status == "expired"


def test_reads_go_through_the_ssrf_guard(rt, fake) -> None:
    # The PDS is one a person named: the default policy refuses a loopback address.
    uri = fake.add_post("Private address")
    rt.herald.ctx.need_hub().fetcher = SafeFetcher()
    before = len(fake.requests)
    with pytest.raises(PublishError, match="won't connect to that Bluesky server"):
        read(rt, [uri])
    assert fake.requests[before:] == []
