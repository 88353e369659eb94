"""Reading an organization's published posts' figures back from LinkedIn: share statistics
(impressions, clicks, likes, comments, reposts) and social actions (likes, comments, and
whether the post still exists), against the local fake of the versioned `/rest` API."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import select

from core.errors import RateLimited
from core.ports import FiguresRequest, Reading
from storage.models import ConnectedAccount
from tests.fakes.linkedin import FakeLinkedIn
from tests.fakes.server import Seen
from tests.support.helpers import actor
from tests.support.platforms import add_account, make_request

pytestmark = pytest.mark.network("linkedin", connect=False)

ORG = "urn:li:organization:5515715"


def asks(rt, urns: list[str], account: int) -> list[FiguresRequest]:
    workspace = rt.herald.workspace_of(actor("maria"))
    return [
        FiguresRequest(
            target_id=number,
            network="linkedin",
            external_id=urn,
            url=f"https://www.linkedin.com/feed/update/{urn}/",
            workspace_id=workspace,
            account_id=account,
        )
        for number, urn in enumerate(urns, start=1)
    ]


def statistics(fake: FakeLinkedIn) -> list[Seen]:
    return fake.seen("/rest/organizationalEntityShareStatistics", "GET")


def social(fake: FakeLinkedIn) -> list[Seen]:
    return fake.seen("/rest/socialActions", "GET")


def test_figures_of_published_posts_are_what_linkedin_holds(rt, fake) -> None:
    account = fake.connect(rt)
    linkedin = rt.herald.ctx.publishers["linkedin"]
    share = linkedin.publish(make_request(rt, "linkedin", "We're hiring")).external_id
    video = fake.add_post("A video, posted as a ugcPost", kind="ugcPost", likeCount=4)
    fake.figures[share] = {
        "impressionCount": 5120,
        "clickCount": 88,
        "likeCount": 61,
        "commentCount": 9,
        "shareCount": 4,
    }

    read = linkedin.read(asks(rt, [share, video], account))

    assert read[1] == Reading(
        likes=61,
        replies=9,
        reposts=4,
        impressions=5120,
        clicks=88,
        raw={
            "impressionCount": 5120,
            "clickCount": 88,
            "likeCount": 61,
            "commentCount": 9,
            "shareCount": 4,
        },
    )
    assert (read[2].likes, read[2].impressions, read[2].clicks) == (4, 0, 0)
    # One request per kind of post, with LinkedIn's headers; no social actions needed.
    asked = statistics(fake)
    assert [sorted(k for k in s.args if k in ("shares", "ugcPosts")) for s in asked] == [
        ["shares"],
        ["ugcPosts"],
    ]
    assert all(s.args["organizationalEntity"] == ORG for s in asked)
    assert all(s.headers["Linkedin-Version"].isdigit() for s in asked)
    assert all(s.headers["X-Restli-Protocol-Version"] == "2.0.0" for s in asked)
    assert social(fake) == []


def test_120_posts_are_read_in_3_requests_of_at_most_50(rt, fake) -> None:
    account = fake.connect(rt)
    urns = [fake.add_post(f"Post {n}", likeCount=n, impressionCount=10 * n) for n in range(120)]

    read = rt.herald.ctx.publishers["linkedin"].read(asks(rt, urns, account))

    assert [(read[n + 1].likes, read[n + 1].impressions) for n in range(120)] == [
        (n, 10 * n) for n in range(120)
    ]
    assert [len(s.args["shares"].split(",")) for s in statistics(fake)] == [50, 50, 20]
    assert social(fake) == []


def test_a_post_older_than_a_year_has_likes_and_comments_but_no_impressions(rt, fake) -> None:
    account = fake.connect(rt)
    old = fake.add_post("Last year", age=timedelta(days=400), likeCount=30, commentCount=2)

    read = rt.herald.ctx.publishers["linkedin"].read(asks(rt, [old], account))

    assert read[1] == Reading(
        likes=30, replies=2, raw={"totalLikes": 30, "aggregatedTotalComments": 2}
    )
    assert read[1].impressions is None and read[1].clicks is None


def test_without_rw_organization_admin_impressions_and_clicks_are_none(rt, fake) -> None:
    account = fake.connect(rt)
    fake.missing_scopes = {"rw_organization_admin"}  # connected before Herald asked for it
    urns = [fake.add_post(f"Post {n}", likeCount=n, impressionCount=99) for n in range(3)]

    read = rt.herald.ctx.publishers["linkedin"].read(asks(rt, urns, account))

    assert [(r.likes, r.impressions, r.clicks) for r in read.values()] == [
        (0, None, None),
        (1, None, None),
        (2, None, None),
    ]
    # The account still posts: a refused read is not an expired token.
    with rt.db.session() as s:
        assert s.scalar(select(ConnectedAccount.status)) == "ok"


def test_a_deleted_post_is_gone_and_the_others_keep_their_impressions(rt, fake) -> None:
    account = fake.connect(rt)
    urns = [fake.add_post(f"Post {n}", likeCount=n, impressionCount=100 + n) for n in range(3)]
    fake.posts = [p for p in fake.posts if p["id"] != urns[1]]  # deleted on LinkedIn

    read = rt.herald.ctx.publishers["linkedin"].read(asks(rt, urns, account))

    assert read[2] == Reading(gone=True)
    assert [(read[n].likes, read[n].impressions) for n in (1, 3)] == [(0, 100), (2, 102)]
    # The statistics refuse the batch with the deleted post; social actions find which one
    # it is; the statistics of the others are read again.
    assert [len(s.args["shares"].split(",")) for s in statistics(fake)] == [3, 2]
    assert len(social(fake)) == 1


def test_429_waits_until_retry_after_and_posting_still_goes_out(rt, fake) -> None:
    account = fake.connect(rt)
    post = fake.add_post("Busy", likeCount=1)
    fake.fail_next(
        "statistics",
        429,
        {"status": 429, "message": "Resource level throttle limit reached"},
        retry_after="3600",
    )
    linkedin = rt.herald.ctx.publishers["linkedin"]
    now = datetime.now(UTC)

    with pytest.raises(RateLimited) as caught:
        linkedin.read(asks(rt, [post], account))

    assert timedelta(minutes=59) < caught.value.until - now < timedelta(minutes=61)
    assert rt.herald.ctx.need_hub().waiting_until(account) is None
    linkedin.publish(make_request(rt, "linkedin", "Right after the read limit"))
    assert fake.posts[-1]["commentary"] == "Right after the read limit"


def test_429_without_retry_after_waits_for_midnight_utc(rt, fake) -> None:
    account = fake.connect(rt)
    post = fake.add_post("Busy", likeCount=1)
    fake.fail_next("statistics", 429, {"status": 429, "message": "Daily quota reached"})

    with pytest.raises(RateLimited) as caught:
        rt.herald.ctx.publishers["linkedin"].read(asks(rt, [post], account))

    until = caught.value.until.astimezone(UTC)
    assert (until.hour, until.minute) == (0, 5)
    assert timedelta(0) < until - datetime.now(UTC) <= timedelta(days=1)


def test_a_401_renews_the_token_once_then_reads(rt, fake) -> None:
    account = fake.connect(rt, refresh=True)
    post = fake.add_post("Renew", likeCount=12)
    fake.tokens.discard("li-token")  # LinkedIn revoked the access token

    read = rt.herald.ctx.publishers["linkedin"].read(asks(rt, [post], account))

    assert read[1].likes == 12
    assert fake.refresh_calls == 1
    tokens = [s.headers["Authorization"] for s in statistics(fake)]
    assert tokens[0] == "Bearer li-token" and tokens[1] != tokens[0]


@pytest.mark.parametrize("status", ["expired", "revoked"])
def test_an_expired_or_revoked_account_is_not_called(rt, fake, status) -> None:
    account = fake.connect(rt)
    post = fake.add_post("Quiet", likeCount=1)
    rt.herald.ctx.need_hub().set_status(account, status)

    assert rt.herald.ctx.publishers["linkedin"].read(asks(rt, [post], account)) == {}
    assert statistics(fake) == [] and social(fake) == []


def test_a_members_posts_are_not_read(rt, fake) -> None:
    member = "urn:li:person:782bbtaQ"
    account = add_account(
        rt, "linkedin", member, "Maria Acme", {"access_token": "li-token", "author": member}
    )
    post = fake.add_post("Mine", author=member, likeCount=5)

    # Reading a member's posts needs r_member_social, which LinkedIn grants to few apps.
    assert rt.herald.ctx.publishers["linkedin"].read(asks(rt, [post], account)) == {}
    assert statistics(fake) == [] and social(fake) == []
