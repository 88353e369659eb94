"""Token health: renew before expiry, warn the owner privately before an expiry or a revocation."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import select

from storage.models import ConnectedAccount, OutboundMessage
from tests.support.helpers import actor, eventually, post_state
from tests.support.platforms import add_account

MARIA = actor("maria")


pytestmark = pytest.mark.network(
    "x",
    connect=False,
    worker=True,
    x_client_id="x-client",
    linkedin_client_id="li-client",
    linkedin_client_secret="li-secret",
)


def private_texts(rt) -> list[str]:
    with rt.db.session() as s:
        rows = s.scalars(select(OutboundMessage).where(OutboundMessage.recipient == "maria")).all()
        return [r.payload["text"] for r in rows]


def test_owner_is_warned_once_before_an_expiry_with_the_posts_at_risk(rt) -> None:
    soon = datetime.now(UTC) + timedelta(days=3)
    add_account(
        rt,
        "linkedin",
        "urn:li:person:1",
        "Maria",
        {"access_token": "li-token", "author": "urn:li:person:1"},
        expires_at=soon,
    )
    rt.herald.handle(MARIA, "draft Quarterly update --to linkedin")
    eventually(lambda: post_state(rt, 1) == "pending_approval", what="the card")
    assert rt.herald.check_accounts() == 1
    (warning,) = [t for t in private_texts(rt) if t.startswith("⚠")]
    assert "Your LinkedIn account Maria expires on" in warning
    assert "Reconnect: http://herald.test/oauth/linkedin/start?state=" in warning
    assert "Posts at risk: #1" in warning
    assert rt.herald.check_accounts() == 1  # still needs attention…
    assert len([t for t in private_texts(rt) if t.startswith("⚠")]) == 1  # …but one DM a day


def test_renewable_token_is_renewed_not_warned(rt, fake) -> None:
    add_account(
        rt,
        "x",
        "2244994945",
        "@acme",
        {"access_token": "x-access-1", "refresh_token": "x-refresh-1"},
        expires_at=datetime.now(UTC) + timedelta(hours=1),
    )
    assert rt.herald.check_accounts() == 0
    assert fake.refresh_calls == 1
    with rt.db.session() as s:
        row = s.scalars(select(ConnectedAccount)).one()
        assert row.expires_at > datetime.now(UTC) + timedelta(hours=1, minutes=30)
    assert not [t for t in private_texts(rt) if t.startswith("⚠")]


def test_revoked_refresh_token_marks_the_account_and_warns(rt, fake) -> None:
    add_account(
        rt,
        "x",
        "2244994945",
        "@acme",
        {"access_token": "x-access-1", "refresh_token": "x-refresh-revoked"},
        expires_at=datetime.now(UTC) + timedelta(hours=1),
    )
    assert rt.herald.check_accounts() == 1
    with rt.db.session() as s:
        assert s.scalars(select(ConnectedAccount.status)).one() == "expired"
    (warning,) = [t for t in private_texts(rt) if t.startswith("⚠")]
    assert "Your X account @acme could not be renewed" in warning
    assert "/oauth/x/start?state=" in warning
    listing = rt.herald.handle(MARIA, "accounts").text or ""
    assert "⚠ expired: reconnect with connect x" in listing
