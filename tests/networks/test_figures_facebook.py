"""Reading published posts' figures back from a Facebook Page: the Graph API's `?ids=` read of
reactions, comments, shares and the insights edge, against the local fake (which refuses
withdrawn metrics, more than 50 ids, and fails a whole `?ids=` read for one missing post)."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import select

from core.errors import RateLimited, TokenExpired
from core.ports import FiguresRequest, Reading
from storage.models import ConnectedAccount
from tests.support.helpers import actor
from tests.support.platforms import make_request, put_media, tiny_png

pytestmark = pytest.mark.network("facebook", connect=False)


def asks(rt, post_ids: list[str], account: int) -> list[FiguresRequest]:
    workspace = rt.herald.workspace_of(actor("maria"))
    return [
        FiguresRequest(
            target_id=number,
            network="facebook",
            external_id=post_id,
            url=f"https://www.facebook.com/{post_id}",
            workspace_id=workspace,
            account_id=account,
        )
        for number, post_id in enumerate(post_ids, start=1)
    ]


def reads(fake) -> list[tuple[str, dict[str, str]]]:
    """Every figures read the fake got: its path (without the version) and its query."""
    return [
        (seen.path.removeprefix(fake.prefix), seen.args)
        for seen in fake.requests
        if seen.method == "GET" and "fields" in seen.args and "limit" not in seen.args
    ]


def test_figures_of_published_posts_are_what_the_page_holds(rt, fake) -> None:
    account = fake.connect(rt)
    facebook = rt.herald.ctx.publishers["facebook"]
    text = facebook.publish(make_request(rt, "facebook", "Hello Page")).external_id
    photo = put_media(rt, "1/a.png", tiny_png(), "image/png")
    pic = facebook.publish(make_request(rt, "facebook", "A photo", media=(photo,))).external_id
    fake.figures[text] = {
        "reactions": 1520,
        "comments": 34,
        "shares": 12,
        "post_media_view": 48211,
        "post_clicks": 903,
    }
    fake.figures[pic] = {"reactions": 2, "post_media_view": 40}  # nobody shared or clicked

    read = facebook.read(asks(rt, [text, pic], account))

    assert read[1] == Reading(
        likes=1520,
        replies=34,
        reposts=12,
        impressions=48211,
        clicks=903,
        raw={
            "reactions": 1520,
            "comments": 34,
            "shares": 12,
            "post_media_view": 48211,
            "post_clicks": 903,
        },
    )
    assert (read[2].likes, read[2].reposts, read[2].impressions, read[2].clicks) == (2, 0, 40, 0)
    ((path, query),) = reads(fake)
    assert path == "/"
    assert query["ids"] == f"{text},{pic}"
    assert "insights.metric(post_media_view,post_clicks)" in query["fields"]
    # The Page token goes in the header, never in the URL.
    assert all("access_token" not in r.args for r in fake.requests)


def test_120_posts_are_read_in_3_requests_of_at_most_50(rt, fake) -> None:
    account = fake.connect(rt)
    ids = [fake.post_elsewhere(f"Post {n}") for n in range(120)]
    for n, post_id in enumerate(ids):
        fake.figures[post_id] = {"reactions": n}

    read = rt.herald.ctx.publishers["facebook"].read(asks(rt, ids, account))

    assert [read[n + 1].likes for n in range(120)] == list(range(120))
    assert [len(query["ids"].split(",")) for _, query in reads(fake)] == [50, 50, 20]


def test_without_read_insights_views_and_clicks_are_none(rt, fake) -> None:
    account = fake.connect(rt)
    fake.insights_allowed = False  # the Page token was granted before read_insights was asked
    ids = [fake.post_elsewhere(f"Post {n}") for n in range(60)]
    for post_id in ids:
        fake.figures[post_id] = {"reactions": 3, "comments": 1, "post_media_view": 99}

    read = rt.herald.ctx.publishers["facebook"].read(asks(rt, ids, account))

    assert {(r.likes, r.replies, r.impressions, r.clicks) for r in read.values()} == {
        (3, 1, None, None)
    }
    assert len(read) == 60
    # Refused once with insights; every later read leaves them out.
    asked = ["insights" in query["fields"] for _, query in reads(fake)]
    assert asked == [True, False, False]


def test_a_page_without_insights_has_no_views_or_clicks(rt, fake) -> None:
    account = fake.connect(rt)
    fake.insights_kept = False  # under 100 likes: Facebook keeps no insights for the Page
    post = fake.post_elsewhere("Small page")
    fake.figures[post] = {"reactions": 7, "post_media_view": 70}

    read = rt.herald.ctx.publishers["facebook"].read(asks(rt, [post], account))

    assert (read[1].likes, read[1].impressions, read[1].clicks) == (7, None, None)


def test_a_deleted_post_is_gone_and_the_others_are_read(rt, fake) -> None:
    account = fake.connect(rt)
    ids = [fake.post_elsewhere(f"Post {n}") for n in range(3)]
    for n, post_id in enumerate(ids):
        fake.figures[post_id] = {"reactions": 10 + n}
    fake.posts = [p for p in fake.posts if p["id"] != ids[1]]  # deleted on Facebook

    read = rt.herald.ctx.publishers["facebook"].read(asks(rt, ids, account))

    assert read[2] == Reading(gone=True)
    assert (read[1].likes, read[3].likes) == (10, 12)
    assert not read[1].gone and not read[3].gone
    # The `?ids=` read fails as a whole (#803); each post is then read on its own.
    assert [path for path, _ in reads(fake)] == ["/", *(f"/{i}" for i in ids)]


@pytest.mark.parametrize(
    ("code", "status", "headers", "minutes"),
    [
        (
            32,
            400,
            {
                "x_business_use_case_usage": '{"1029384756":[{"type":"pages","call_count":100,'
                '"total_cputime":25,"total_time":25,"estimated_time_to_regain_access":19}]}'
            },
            19,
        ),
        (4, 400, {"x_app_usage": '{"call_count":100,"total_cputime":20,"total_time":30}'}, 15),
        (613, 429, {}, 15),
    ],
)
def test_a_throttled_read_raises_rate_limited_and_posting_still_goes_out(
    rt, fake, code, status, headers, minutes
) -> None:
    account = fake.connect(rt)
    post = fake.post_elsewhere("Busy")
    body = {
        "error": {
            "message": "(#32) Page request limit reached",
            "type": "OAuthException",
            "code": code,
            "fbtrace_id": "EJplcsCHuLu",
        }
    }
    fake.fail_next("read", status, body, **headers)
    facebook = rt.herald.ctx.publishers["facebook"]
    now = rt.herald.ctx.clock.now()

    with pytest.raises(RateLimited) as caught:
        facebook.read(asks(rt, [post], account))

    # Facebook's estimate when it gives one, else a quarter of an hour.
    waited = caught.value.until - now
    assert timedelta(minutes=minutes) - timedelta(seconds=5) < waited
    assert waited < timedelta(minutes=minutes, seconds=5)
    assert rt.herald.ctx.need_hub().waiting_until(account) is None
    facebook.publish(make_request(rt, "facebook", "Right after the throttled read"))
    assert fake.posts[-1]["message"] == "Right after the throttled read"


def test_a_refused_page_token_marks_the_account_expired(rt, fake) -> None:
    account = fake.connect(rt)
    post = fake.post_elsewhere("Token")
    fake.page_tokens.clear()  # the person changed their password: Facebook answers 190

    with pytest.raises(TokenExpired, match="reconnect"):
        rt.herald.ctx.publishers["facebook"].read(asks(rt, [post], account))

    with rt.db.session() as s:
        assert s.scalar(select(ConnectedAccount.status)) == "expired"
    before = len(fake.requests)
    assert rt.herald.ctx.publishers["facebook"].read(asks(rt, [post], account)) == {}
    assert len(fake.requests) == before  # an expired account is not asked again


@pytest.mark.parametrize("status", ["expired", "revoked"])
def test_an_expired_or_revoked_account_is_not_called(rt, fake, status) -> None:
    account = fake.connect(rt)
    post = fake.post_elsewhere("Quiet")
    rt.herald.ctx.need_hub().set_status(account, status)

    assert rt.herald.ctx.publishers["facebook"].read(asks(rt, [post], account)) == {}
    assert reads(fake) == []
