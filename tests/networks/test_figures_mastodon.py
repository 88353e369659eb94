"""Reading a published status's figures back from a local fake Mastodon instance."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import select

from core.errors import PublishError, RateLimited, TokenExpired
from core.ports import FiguresRequest, Reading
from core.ssrf import SafeFetcher
from storage.models import ConnectedAccount
from tests.support.helpers import actor
from tests.support.platforms import make_request

pytestmark = pytest.mark.network("mastodon")

_COUNTS = ("favourites_count", "reblogs_count", "replies_count", "quotes_count")


def asking(rt, status_ids: list[str]) -> list[FiguresRequest]:
    """Targets 1, 2, … published as these statuses."""
    ws = rt.herald.workspace_of(actor("maria"))
    return [
        FiguresRequest(n, "mastodon", sid, f"https://masto.test/@acme/{sid}", ws)
        for n, sid in enumerate(status_ids, 1)
    ]


def read(rt, status_ids: list[str]) -> dict[int, Reading]:
    got: dict[int, Reading] = rt.herald.ctx.publishers["mastodon"].read(asking(rt, status_ids))
    return got


def reads(fake, *, batch: bool) -> list[str]:
    """The read requests the instance saw: batches ("GET /api/v1/statuses") or single ids."""
    return [
        r.path
        for r in fake.requests
        if r.method == "GET"
        and (r.path == "/api/v1/statuses") == batch
        and r.path.startswith("/api/v1/statuses")
    ]


def account_id(rt) -> int:
    with rt.db.session() as s:
        return int(s.scalars(select(ConnectedAccount.id)).one())


def test_figures_are_the_counts_the_instance_shows(rt, fake) -> None:
    publisher = rt.herald.ctx.publishers["mastodon"]
    first = publisher.publish(make_request(rt, "mastodon", "Launch day"))
    second = fake.add_status("An older post")
    fake.react(first.external_id, favourites_count=41, reblogs_count=6, replies_count=3)
    fake.react(second["id"], favourites_count=2, quotes_count=1)
    got = read(rt, [first.external_id, second["id"]])
    assert got == {
        1: Reading(
            likes=41,
            reposts=6,
            replies=3,
            quotes=0,
            raw={
                "favourites_count": 41,
                "reblogs_count": 6,
                "replies_count": 3,
                "quotes_count": 0,
            },
        ),
        2: Reading(
            likes=2,
            reposts=0,
            replies=0,
            quotes=1,
            raw={
                "favourites_count": 2,
                "reblogs_count": 0,
                "replies_count": 0,
                "quotes_count": 1,
            },
        ),
    }
    # Mastodon says nothing about impressions or clicks.
    assert all(r.impressions is None and r.clicks is None for r in got.values())
    assert len(reads(fake, batch=True)) == 1  # both in one request
    assert reads(fake, batch=False) == []


def test_forty_five_statuses_are_read_twenty_at_a_time(rt, fake) -> None:
    statuses = [fake.add_status(f"Post {n}") for n in range(45)]
    for n, status in enumerate(statuses):
        fake.react(status["id"], favourites_count=n, reblogs_count=n // 2)
    got = read(rt, [s["id"] for s in statuses])
    assert [(got[n + 1].likes, got[n + 1].reposts) for n in range(45)] == [
        (n, n // 2) for n in range(45)
    ]
    batches = [r for r in fake.requests if r.path == "/api/v1/statuses" and r.method == "GET"]
    assert len(batches) == 3
    assert reads(fake, batch=False) == []


def test_an_instance_before_4_3_is_read_one_status_at_a_time(rt, fake) -> None:
    fake.batch_reads = False  # GET /api/v1/statuses is a 404 there
    fake.quotes = False  # and no quotes_count before 4.5
    statuses = [fake.add_status(f"Post {n}") for n in range(3)]
    fake.react(statuses[1]["id"], favourites_count=7, quotes_count=5)
    got = read(rt, [s["id"] for s in statuses])
    assert got[2] == Reading(
        likes=7, raw={"favourites_count": 7, "reblogs_count": 0, "replies_count": 0}
    )
    assert got[1] == got[3] == Reading(raw={k: 0 for k in got[2].raw})
    assert len(reads(fake, batch=True)) == 1
    assert len(reads(fake, batch=False)) == 3
    # The instance is remembered: the next read goes straight to single statuses.
    read(rt, [s["id"] for s in statuses])
    assert len(reads(fake, batch=True)) == 1
    assert len(reads(fake, batch=False)) == 6


@pytest.mark.parametrize("batch", [True, False])
def test_a_deleted_status_is_gone(rt, fake, batch: bool) -> None:
    fake.batch_reads = batch
    kept, deleted = fake.add_status("Kept"), fake.add_status("Deleted later")
    fake.react(kept["id"], favourites_count=4)
    fake.delete(deleted["id"])
    got = read(rt, [kept["id"], deleted["id"]])
    assert got[1].likes == 4 and not got[1].gone
    assert got[2] == Reading(gone=True)
    # Left out of a batch, it was asked for alone before being called gone.
    alone = [s["id"] for s in ([deleted] if batch else [kept, deleted])]
    assert reads(fake, batch=False) == [f"/api/v1/statuses/{sid}" for sid in alone]


@pytest.mark.parametrize("batch", [True, False])
def test_a_429_names_the_reset_and_does_not_hold_back_a_post(rt, fake, batch: bool) -> None:
    fake.batch_reads = batch
    status = fake.add_status("Busy instance")
    reset = (datetime.now(UTC) + timedelta(minutes=10)).replace(microsecond=0)
    fake.fail_next(
        "read",
        429,
        {"error": "Too many requests"},
        X_RateLimit_Reset=reset.isoformat().replace("+00:00", ".000000Z"),
        X_RateLimit_Remaining="0",
    )
    with pytest.raises(RateLimited, match="rate limiting") as caught:
        read(rt, [status["id"]])
    assert caught.value.until == reset
    # Reading's limit is not the account's posting limit: a post right after goes out.
    published = rt.herald.ctx.publishers["mastodon"].publish(make_request(rt, "mastodon"))
    assert fake.status(published.external_id)


def test_a_429_with_only_retry_after_waits_that_long(rt, fake) -> None:
    status = fake.add_status("Behind a proxy")
    fake.fail_next("read", 429, {"error": "Too many requests"}, Retry_After="120")
    before = datetime.now(UTC)
    with pytest.raises(RateLimited) as caught:
        read(rt, [status["id"]])
    assert timedelta(seconds=119) <= caught.value.until - before <= timedelta(seconds=125)


def test_a_spent_limit_on_a_read_does_not_hold_back_a_post(rt, fake) -> None:
    fake.read_remaining = 0  # the read was the window's last allowed call
    status = fake.add_status("Last call")
    assert read(rt, [status["id"]])[1] == Reading(raw={k: 0 for k in _COUNTS})
    published = rt.herald.ctx.publishers["mastodon"].publish(make_request(rt, "mastodon"))
    assert fake.status(published.external_id)


@pytest.mark.parametrize("state", ["expired", "revoked"])
def test_an_expired_or_revoked_account_is_not_called(rt, fake, state: str) -> None:
    status = fake.add_status("Nobody asks")
    rt.herald.ctx.need_hub().set_status(account_id(rt), state)
    before = len(fake.requests)
    assert read(rt, [status["id"]]) == {}
    assert fake.requests[before:] == []


def test_a_revoked_token_says_reconnect_and_marks_the_account(rt, fake) -> None:
    status = fake.add_status("Token gone")
    fake.tokens.clear()
    with pytest.raises(TokenExpired, match="reconnect Mastodon"):
        read(rt, [status["id"]])
    with rt.db.session() as s:
        assert s.get_one(ConnectedAccount, account_id(rt)).status == "expired"


def test_reads_go_through_the_ssrf_guard(rt, fake) -> None:
    # The instance is one a person named: the default policy refuses a loopback address.
    status = fake.add_status("Private address")
    rt.herald.ctx.need_hub().fetcher = SafeFetcher()
    before = len(fake.requests)
    with pytest.raises(PublishError, match="won't connect to that Mastodon server"):
        read(rt, [status["id"]])
    assert fake.requests[before:] == []
