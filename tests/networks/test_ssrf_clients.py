"""SSRF through user-supplied servers: instance and PDS URLs, what they redirect to, what they say.

Every request to an address a person typed (a Mastodon instance, a Bluesky PDS, the media
links) goes through one transport that resolves the host, checks the answer and connects to
exactly that address. A name that answers a public address to the check and a loopback one to
the connection (DNS rebinding) reaches nothing; a remote error body reaches the chat only as a
short, sanitized reason.
"""

from __future__ import annotations

import ipaddress
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import httpx
import pytest
from fastapi.testclient import TestClient
from sqlalchemy import func, select

from bot.web.app import create_app
from core.errors import ContentRejected, PublishError, TokenExpired
from core.ssrf import Refused, SafeFetcher
from storage.models import ConnectedAccount
from tests.support.helpers import actor
from tests.support.platforms import add_account, make_request, runtime_with

MARIA = actor("maria")
PUBLIC = "93.184.216.34"
SECRET_JWT = "eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiJhZG1pbiJ9.c2lnbmF0dXJlLXNlY3JldA"
SECRET_KEY = "sk_live_51HxQ2bC9dE8fG7hJ6kL5mN4pQ3rS2tU1"


def rebinding() -> SafeFetcher:
    """Production policy (public addresses only) with a resolver that rebinds after one answer:
    the check sees a public address, a second lookup would see loopback."""
    answers: dict[str, int] = {}

    def resolve(host: str, port: int) -> list[str]:
        answers[host] = answers.get(host, 0) + 1
        return [PUBLIC] if answers[host] == 1 else ["127.0.0.1"]

    return SafeFetcher(resolver=resolve)


@pytest.fixture
def rt(settings):
    runtime = runtime_with(settings, worker=False)
    yield runtime
    runtime.close()


def test_rebinding_pds_reaches_nothing_and_is_refused_plainly(rt, fake_bluesky) -> None:
    rt.herald.ctx.need_hub().fetcher = rebinding()
    port = fake_bluesky.url.rsplit(":", 1)[1]
    reply = rt.herald.handle(
        MARIA, f"connect bluesky acme.bsky.social {fake_bluesky.password} http://localhost:{port}"
    )
    assert fake_bluesky.requests == []  # the app password never left Herald
    assert reply.error
    assert "Bluesky was not connected" in (reply.text or "")
    assert "loopback" in (reply.text or "")
    with rt.db.session() as s:
        assert s.scalar(select(func.count(ConnectedAccount.id))) == 0


def test_rebinding_mastodon_instance_reaches_nothing_at_app_registration(rt, fake_mastodon) -> None:
    rt.herald.ctx.need_hub().fetcher = rebinding()
    port = fake_mastodon.url.rsplit(":", 1)[1]
    reply = rt.herald.handle(MARIA, f"connect mastodon http://localhost:{port}")
    assert not reply.error, reply.text
    link = reply.text or ""  # the terminal's answer is the private link, given once
    path = link[link.index("/oauth/") :].split()[0]
    with TestClient(create_app(rt)) as web:
        page = web.get(path, follow_redirects=False)
    assert fake_mastodon.requests == []
    assert page.status_code == 400
    assert "loopback" in page.text
    assert "Traceback" not in page.text


class _Redirect(BaseHTTPRequestHandler):
    target = ""

    def do_GET(self) -> None:
        self.send_response(302)
        self.send_header("Location", self.target)
        self.send_header("Content-Length", "0")
        self.end_headers()

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture
def redirector() -> Iterator[ThreadingHTTPServer]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Redirect)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield server
    server.shutdown()


@pytest.mark.parametrize(
    ("location", "reason"),
    [
        ("http://127.0.0.2:{port}/internal", "loopback"),
        ("http://169.254.169.254/latest/meta-data/", "metadata"),
        ("http://internal.example/admin", "private"),
    ],
)
def test_each_redirect_hop_is_checked(redirector, location, reason) -> None:
    port = redirector.server_port
    _Redirect.target = location.format(port=port)
    table = {"allowed.example": ["127.0.0.1"], "internal.example": ["10.0.0.8"]}
    # 127.0.0.1 alone stands for "a public host" here; 127.0.0.2 is loopback like any other.
    policy = SafeFetcher(
        resolver=lambda host, _port: table[host], allow=(ipaddress.ip_network("127.0.0.1/32"),)
    )
    with (
        httpx.Client(transport=policy.transport(), follow_redirects=True) as http,
        pytest.raises(Refused, match=reason),
    ):
        http.get(f"http://allowed.example:{port}/start")


def test_the_connection_goes_to_the_checked_address_with_the_original_host(fake_mastodon) -> None:
    port = fake_mastodon.url.rsplit(":", 1)[1]
    lookups: list[str] = []

    def once(host: str, _port: int) -> list[str]:
        lookups.append(host)
        return ["127.0.0.1"]

    policy = SafeFetcher(resolver=once, allow=(ipaddress.ip_network("127.0.0.0/8"),))
    with httpx.Client(transport=policy.transport()) as http:
        response = http.get(f"http://instance.example:{port}/api/v1/accounts/verify_credentials")
    assert response.status_code == 401  # the fake's answer: the socket reached the checked address
    assert lookups == ["instance.example"]
    assert fake_mastodon.requests[-1].headers["Host"] == f"instance.example:{port}"
    assert str(response.request.url).startswith("http://instance.example")


HOSTILE_BODY = (
    "<html><head><title>500</title></head><body><script>alert(1)</script>"
    f"upstream said: Authorization: Bearer {SECRET_JWT} key={SECRET_KEY} "
    "see http://10.0.0.5/admin\u202e for details</body></html>"
)


def _assert_sanitized(text: str) -> None:
    assert SECRET_JWT not in text
    assert SECRET_KEY not in text
    assert "eyJ" not in text
    assert "<" not in text and ">" not in text
    assert "script" not in text.lower()
    assert "10.0.0.5" not in text
    assert "\u202e" not in text
    assert len(text) <= 300


def test_bluesky_error_body_reaches_the_card_only_sanitized(rt, fake_bluesky) -> None:
    reply = rt.herald.handle(
        MARIA, f"connect bluesky acme.bsky.social {fake_bluesky.password} {fake_bluesky.url}"
    )
    assert not reply.error, reply.text
    fake_bluesky.fail_next("post", 400, {"error": "InvalidRequest", "message": HOSTILE_BODY})
    with pytest.raises(ContentRejected) as caught:
        rt.herald.ctx.publishers["bluesky"].publish(make_request(rt, "bluesky"))
    assert caught.value.reason.startswith("Bluesky refused the post: ")
    assert "upstream said" in caught.value.reason
    _assert_sanitized(caught.value.reason)


def test_mastodon_error_body_reaches_the_card_only_sanitized(rt, fake_mastodon) -> None:
    add_account(
        rt,
        "mastodon",
        "acme@masto.test",
        "@acme@masto.test",
        {"instance": fake_mastodon.url, "access_token": "masto-token", "id": "109"},
    )
    fake_mastodon.fail_next("post", 422, {"error": HOSTILE_BODY})
    with pytest.raises(ContentRejected) as caught:
        rt.herald.ctx.publishers["mastodon"].publish(make_request(rt, "mastodon"))
    assert caught.value.reason.startswith("Mastodon refused the post: ")
    _assert_sanitized(caught.value.reason)


def test_bluesky_login_error_reaches_the_chat_only_sanitized(rt, fake_bluesky) -> None:
    fake_bluesky.fail_next(
        "session", 401, {"error": "AuthenticationRequired", "message": HOSTILE_BODY}
    )
    reply = rt.herald.handle(
        MARIA, f"connect bluesky acme.bsky.social {fake_bluesky.password} {fake_bluesky.url}"
    )
    assert reply.error
    assert (reply.text or "").startswith("Bluesky was not connected: Bluesky refused the login")
    _assert_sanitized(reply.text or "")


def test_a_stored_account_on_a_private_address_is_never_called(rt, fake_bluesky) -> None:
    add_account(
        rt,
        "bluesky",
        "did:plc:abc123",
        "@acme",
        {"pds": fake_bluesky.url, "did": "did:plc:abc123", "access_jwt": "a", "refresh_jwt": "r"},
    )
    rt.herald.ctx.need_hub().fetcher = SafeFetcher()  # production: public only
    with pytest.raises(PublishError, match="loopback") as caught:
        rt.herald.ctx.publishers["bluesky"].publish(make_request(rt, "bluesky"))
    assert not caught.value.retryable  # nothing was sent: failed with a reason, not "unknown"
    assert not isinstance(caught.value, TokenExpired)
    assert fake_bluesky.requests == []
