"""Connecting accounts from chat: private link, signed state, fake authorization servers."""

from __future__ import annotations

import re
from urllib.parse import parse_qs, urlsplit

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select

from bot.web.app import create_app
from storage.models import ConnectedAccount, OutboundMessage
from tests.fakes.facebook import FakeFacebook
from tests.fakes.linkedin import FakeLinkedIn
from tests.fakes.mastodon import FakeMastodon
from tests.fakes.server import FakeServer
from tests.fakes.x import FakeX
from tests.support.helpers import actor
from tests.support.platforms import link_from, run_oauth_flow, runtime_with

MARIA = actor("maria")
LEE = actor("lee")


@pytest.fixture
def fakes(
    fake_x: FakeX,
    fake_linkedin: FakeLinkedIn,
    fake_facebook: FakeFacebook,
    fake_mastodon: FakeMastodon,
) -> dict[str, FakeServer]:
    return {
        "x": fake_x,
        "linkedin": fake_linkedin,
        "facebook": fake_facebook,
        "mastodon": fake_mastodon,
    }


@pytest.fixture
def rt(settings, fakes):
    x, li, fb = fakes["x"], fakes["linkedin"], fakes["facebook"]
    runtime = runtime_with(
        settings,
        worker=False,
        x_api_url=x.url,
        x_upload_url=x.url,
        x_auth_url=f"{x.url}/i/oauth2/authorize",
        x_client_id="x-client",
        linkedin_api_url=li.url,
        linkedin_auth_url=f"{li.url}/oauth/v2",
        linkedin_client_id="li-client",
        linkedin_client_secret="li-secret",
        facebook_api_url=f"{fb.url}/v21.0",
        facebook_auth_url=f"{fb.url}/dialog/oauth",
        facebook_app_id="fb-app",
        facebook_app_secret="fb-secret",
    )
    yield runtime
    runtime.close()


@pytest.mark.parametrize(
    ("command", "network", "account_id", "display"),
    [
        ("connect x", "x", "2244994945", "@acme"),
        ("connect linkedin", "linkedin", "urn:li:person:782bbtaQ", "Maria Acme"),
        (
            "connect linkedin org:5515715",
            "linkedin",
            "urn:li:organization:5515715",
            "Maria Acme (organization 5515715)",
        ),
        ("connect facebook", "facebook", "1029384756", "Acme Page"),
        ("connect mastodon {mastodon}", "mastodon", "acme@127.0.0.1", "@acme@127.0.0.1"),
    ],
)
def test_connect_from_chat_end_to_end(rt, fakes, command, network, account_id, display) -> None:
    command = command.format(mastodon=fakes["mastodon"].url)
    with TestClient(create_app(rt)) as web:
        done, link = run_oauth_flow(rt, web, command)
        assert done.status_code == 200, done.text
        assert "Connected" in done.text
        # The state is one-time: the same link cannot start a second flow.
        again = web.get(link.removeprefix("http://herald.test"), follow_redirects=False)
        assert again.status_code == 400
        assert "already used" in again.text
    with rt.db.session() as s:
        row = s.scalars(select(ConnectedAccount)).one()
        assert (
            row.network,
            row.account_id.split(":")[0] if network == "mastodon" else row.account_id,
        ) == (network, account_id.split(":")[0] if network == "mastodon" else account_id)
        assert row.display_name.startswith(display.split(":")[0])
        private = s.scalars(
            select(OutboundMessage).where(OutboundMessage.recipient == "maria")
        ).all()
        texts = [m.payload["text"] for m in private]
    # At the terminal the answer itself is private and carries the link (run_oauth_flow read
    # it there): no stored copy prints it a second time.
    assert not any(t.startswith("🔗 Connect") for t in texts)
    assert any(t.startswith("✅ Connected") for t in texts)  # and so did the confirmation
    listing = rt.herald.handle(MARIA, "accounts").text or ""
    assert row.display_name in listing
    reply = rt.herald.handle(MARIA, "draft Hello --to " + network)
    assert not reply.error, reply.text


def test_x_flow_uses_pkce(rt, fakes) -> None:
    with TestClient(create_app(rt)) as web:
        run_oauth_flow(rt, web, "connect x")
    (authorize,) = fakes["x"].seen("/i/oauth2/authorize")
    assert authorize.args["code_challenge_method"] == "S256"
    (token,) = [r for r in fakes["x"].seen("/2/oauth2/token") if r.form.get("code")]
    assert len(token.form["code_verifier"]) >= 43


def test_tampered_or_expired_state_is_refused(rt) -> None:
    reply = rt.herald.handle(MARIA, "connect x")
    link = link_from(reply.text or "")
    query = parse_qs(urlsplit(link).query)
    token = query["state"][0]
    body, _, mac = token.partition(".")
    with TestClient(create_app(rt)) as web:
        forged = web.get(f"/oauth/x/start?state={body}.{'A' * len(mac)}", follow_redirects=False)
        assert forged.status_code == 400
        assert "not valid" in forged.text
        other = web.get(f"/oauth/linkedin/start?state={token}", follow_redirects=False)
        assert other.status_code == 400
        callback = web.get(f"/oauth/x/callback?state={token}&error=access_denied")
        assert "declined" in callback.text


def test_only_admins_can_connect_and_disconnect(rt, fakes) -> None:
    rt.herald.handle(MARIA, "queue")
    rt.herald.handle(LEE, "queue")  # joins as editor
    reply = rt.herald.handle(LEE, "connect x")
    assert reply.error
    with TestClient(create_app(rt)) as web:
        run_oauth_flow(rt, web, "connect x")
    assert rt.herald.handle(LEE, "disconnect x").error
    reply = rt.herald.handle(MARIA, "disconnect @acme")
    assert not reply.error, reply.text
    assert "Disconnected X account @acme" in (reply.text or "")
    with rt.db.session() as s:
        assert s.scalars(select(ConnectedAccount)).all() == []


def test_network_without_app_credentials_says_how_to_set_it_up(settings) -> None:
    runtime = runtime_with(settings, worker=False)
    try:
        reply = runtime.herald.handle(MARIA, "connect linkedin")
        assert reply.error
        assert "HERALD_LINKEDIN_CLIENT_ID" in (reply.text or "")
        reply = runtime.herald.handle(MARIA, "connect mastodon 10.0.0.5")
        assert reply.error
        assert "private address" in (reply.text or "")
    finally:
        runtime.close()


def test_an_unexpected_failure_shows_the_ref_that_is_in_the_log(rt, monkeypatch, logs) -> None:
    """The page says what the chat says on any failure Herald did not foresee: its ref, which
    the log holds beside the traceback."""
    reply = rt.herald.handle(MARIA, "connect x")
    token = parse_qs(urlsplit(link_from(reply.text or "")).query)["state"][0]

    def broken(*_args: object) -> str:
        raise RuntimeError("the token exchange broke")

    monkeypatch.setattr("core.workspace.oauth.finish", broken)
    with TestClient(create_app(rt)) as web:
        page = web.get(f"/oauth/x/callback?state={token}&code=abc")
    assert page.status_code == 500
    ref = re.search(r"Something went wrong on my side \(ref ([0-9a-f]{6})\)\. Try again", page.text)
    assert ref is not None, page.text
    logged = [r for r in logs if ref.group(1) in r.getMessage()]
    assert logged and logged[0].exc_info is not None
    assert "the token exchange broke" not in page.text
