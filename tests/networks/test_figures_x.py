"""Reading published posts' figures back from X: `GET /2/tweets` against the local fake, which
answers as X does (public and non-public metrics, field authorization errors, posts not found,
rate-limit headers) and checks the request against X's OpenAPI spec."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import select

from core.errors import RateLimited, TokenExpired
from core.ports import FiguresRequest, Reading
from storage.models import ConnectedAccount
from tests.fakes.x import x_schema_errors
from tests.support.helpers import actor
from tests.support.platforms import make_request

pytestmark = pytest.mark.network("x", connect=False, x_client_id="herald-client")


def asks(rt, post_ids: list[str], account: int) -> list[FiguresRequest]:
    """One figures request per post, target ids 1, 2, … in order."""
    workspace = rt.herald.workspace_of(actor("maria"))
    return [
        FiguresRequest(
            target_id=number,
            network="x",
            external_id=post_id,
            url=f"https://x.com/acme/status/{post_id}",
            workspace_id=workspace,
            account_id=account,
        )
        for number, post_id in enumerate(post_ids, start=1)
    ]


def lookups(fake) -> list[dict[str, str]]:
    return [seen.args for seen in fake.seen("/2/tweets", "GET")]


def test_figures_of_published_posts_are_what_x_holds(rt, fake) -> None:
    account = fake.connect(rt)
    x = rt.herald.ctx.publishers["x"]
    first = x.publish(make_request(rt, "x", "Launch day https://example.com")).external_id
    second = x.publish(make_request(rt, "x", "Day two")).external_id
    fake.figures[first] = {
        "like_count": 1234,
        "retweet_count": 56,
        "reply_count": 7,
        "quote_count": 3,
        "impression_count": 98765,
        "url_link_clicks": 40,
        "user_profile_clicks": 2,
    }
    fake.figures[second] = {"like_count": 1, "impression_count": 10, "user_profile_clicks": 1}

    read = x.read(asks(rt, [first, second], account))

    assert read[1] == Reading(
        likes=1234,
        reposts=56,
        replies=7,
        quotes=3,
        impressions=98765,
        clicks=42,
        raw={
            "like_count": 1234,
            "retweet_count": 56,
            "reply_count": 7,
            "quote_count": 3,
            "impression_count": 98765,
            "url_link_clicks": 40,
            "user_profile_clicks": 2,
        },
    )
    # No link in the post: X gives no link clicks, profile clicks still count.
    assert (read[2].likes, read[2].impressions, read[2].clicks) == (1, 10, 1)
    (asked,) = lookups(fake)
    assert asked["tweet.fields"] == "public_metrics,non_public_metrics"
    assert asked["ids"] == f"{first},{second}"


def test_250_posts_are_read_in_3_requests_of_at_most_100(rt, fake) -> None:
    account = fake.connect(rt)
    ids = [fake.add_post(f"Post {n}", like_count=n) for n in range(250)]

    read = rt.herald.ctx.publishers["x"].read(asks(rt, ids, account))

    assert [read[n + 1].likes for n in range(250)] == list(range(250))
    assert [len(args["ids"].split(",")) for args in lookups(fake)] == [100, 100, 50]


def test_posts_older_than_30_days_are_read_without_clicks(rt, fake) -> None:
    account = fake.connect(rt)
    new = fake.add_post("New", like_count=5, impression_count=50, url_link_clicks=4)
    old = fake.add_post("Old", age=timedelta(days=45), like_count=9, impression_count=900)

    read = rt.herald.ctx.publishers["x"].read(asks(rt, [new, old], account))

    assert (read[1].likes, read[1].impressions, read[1].clicks) == (5, 50, 4)
    assert (read[2].likes, read[2].impressions, read[2].clicks) == (9, 900, None)
    # The old post is asked for public metrics alone: X would refuse the rest.
    assert [(a["ids"], a["tweet.fields"]) for a in lookups(fake)] == [
        (new, "public_metrics,non_public_metrics"),
        (old, "public_metrics"),
    ]


def test_refused_non_public_metrics_are_asked_again_as_public_ones(rt, fake) -> None:
    account = fake.connect(rt)
    fake.private_metrics = False  # X answers with a field authorization error per post
    ids = [fake.add_post(f"Post {n}", like_count=n + 1, impression_count=100) for n in range(3)]

    read = rt.herald.ctx.publishers["x"].read(asks(rt, ids, account))

    assert [(r.likes, r.impressions, r.clicks) for r in read.values()] == [
        (1, 100, None),
        (2, 100, None),
        (3, 100, None),
    ]
    assert [a["tweet.fields"] for a in lookups(fake)] == [
        "public_metrics,non_public_metrics",
        "public_metrics",
    ]


def test_a_deleted_post_is_gone_and_the_others_are_read(rt, fake) -> None:
    account = fake.connect(rt)
    kept = fake.add_post("Kept", like_count=3)
    deleted = fake.add_post("Deleted", like_count=8)
    fake.posts = [p for p in fake.posts if p["id"] != deleted]

    read = rt.herald.ctx.publishers["x"].read(asks(rt, [kept, deleted], account))

    assert read[1].likes == 3
    assert not read[1].gone
    assert read[2] == Reading(gone=True)
    assert len(lookups(fake)) == 1


def test_the_spec_v2_167_names_are_read_too(rt, fake) -> None:
    account = fake.connect(rt)
    fake.spec_names = True  # `repost_count`, problem types under api.x.com
    fake.problems = "https://api.x.com/2/problems/"
    there = fake.add_post("There", retweet_count=6, like_count=2)
    missing = "1999999999999999999"

    read = rt.herald.ctx.publishers["x"].read(asks(rt, [there, missing], account))

    assert (read[1].reposts, read[1].likes) == (6, 2)
    assert read[2].gone
    # The fake's answer in these names is what the pinned spec describes.
    answer = fake.lookup(fake.seen("/2/tweets", "GET")[0])
    assert x_schema_errors("GetPostsByIdsResponse", json.loads(answer.get_data())) == []


def test_429_raises_rate_limited_until_x_says_and_posting_still_goes_out(rt, fake) -> None:
    account = fake.connect(rt)
    post = fake.add_post("Busy", like_count=1)
    reset = int((datetime.now(UTC) + timedelta(minutes=12)).timestamp())
    fake.fail_next(
        "lookup",
        429,
        {"title": "Too Many Requests", "detail": "Too Many Requests", "type": "about:blank"},
        x_rate_limit_reset=str(reset),
        x_rate_limit_remaining="0",
    )
    x = rt.herald.ctx.publishers["x"]

    with pytest.raises(RateLimited) as caught:
        x.read(asks(rt, [post], account))

    assert caught.value.until == datetime.fromtimestamp(reset, UTC)
    # A read limit is not a posting limit: nothing is noted, the next post goes out.
    assert rt.herald.ctx.need_hub().waiting_until(account) is None
    x.publish(make_request(rt, "x", "Right after the read limit"))
    assert fake.posts[-1]["text"] == "Right after the read limit"


def test_a_read_that_uses_up_the_read_window_does_not_hold_back_posts(rt, fake) -> None:
    account = fake.connect(rt)
    post = fake.add_post("Last read of the window", like_count=4)
    fake.read_remaining = "0"
    x = rt.herald.ctx.publishers["x"]

    assert x.read(asks(rt, [post], account))[1].likes == 4
    x.publish(make_request(rt, "x", "Still posting"))
    assert fake.posts[-1]["text"] == "Still posting"


def test_a_401_renews_the_token_once_then_reads(rt, fake) -> None:
    account = fake.connect(rt)  # the token expires in 2 hours: no refresh before the call
    post = fake.add_post("Renew", like_count=11)
    fake.access_tokens.clear()  # X revoked the access token; the refresh token still works

    read = rt.herald.ctx.publishers["x"].read(asks(rt, [post], account))

    assert read[1].likes == 11
    assert fake.refresh_calls == 1
    # Refused once with the old token, then read with the new one.
    tokens = [seen.headers["Authorization"] for seen in fake.seen("/2/tweets", "GET")]
    assert tokens[0] == "Bearer x-access-1"
    assert len(tokens) == 2 and tokens[1] != tokens[0]
    with rt.db.session() as s:
        assert s.scalar(select(ConnectedAccount.status)) == "ok"


def test_a_refused_refresh_marks_the_account_expired(rt, fake) -> None:
    account = fake.connect(rt)
    post = fake.add_post("No way", like_count=1)
    fake.access_tokens.clear()
    fake.refresh_tokens.clear()

    with pytest.raises(TokenExpired, match="reconnect"):
        rt.herald.ctx.publishers["x"].read(asks(rt, [post], account))

    with rt.db.session() as s:
        assert s.scalar(select(ConnectedAccount.status)) == "expired"


@pytest.mark.parametrize("status", ["expired", "revoked"])
def test_an_expired_or_revoked_account_is_not_called(rt, fake, status) -> None:
    account = fake.connect(rt)
    post = fake.add_post("Quiet", like_count=1)
    rt.herald.ctx.need_hub().set_status(account, status)

    assert rt.herald.ctx.publishers["x"].read(asks(rt, [post], account)) == {}
    assert lookups(fake) == []
