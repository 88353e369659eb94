"""Herald pointed at the local network fakes: a runtime that may reach 127.0.0.1, a connected
account as the OAuth callback stores it (or as a person connects it through the browser), a
publish request, media in the store, and an outbox network that misbehaves."""

from __future__ import annotations

import io
import ipaddress
from datetime import datetime
from typing import Any

import httpx
from fastapi.testclient import TestClient
from PIL import Image
from pydantic import SecretStr
from sqlalchemy import select

from bot.runtime import Runtime, build_runtime
from core.platforms.connect.base import NewAccount
from core.platforms.outbox import OutboxPublisher
from core.ports import Published, PublishRequest
from core.settings import Settings
from core.ssrf import SafeFetcher
from core.workspace import oauth
from core.workspace.people import Actor, resolve
from storage.models import Target
from storage.vault import new_key
from tests.support.helpers import actor
from workers.app import EmbeddedWorker


def runtime_with(settings: Settings, *, worker: bool = True, **overrides: Any) -> Runtime:
    """A runtime whose settings point at the fakes; the SSRF policy may reach 127.0.0.1."""
    values = {"public_url": "http://herald.test", "secret_key": SecretStr(new_key()), **overrides}
    # model_copy does not validate: secrets given as text become SecretStr here.
    values = {
        k: SecretStr(v) if k.endswith("_secret") and isinstance(v, str) else v
        for k, v in values.items()
    }
    rt = build_runtime(settings.model_copy(update=values))
    rt.herald.ctx.need_hub().fetcher = SafeFetcher(allow=(ipaddress.ip_network("127.0.0.0/8"),))
    if worker:
        start_worker(rt)
    return rt


def start_worker(rt: Runtime) -> None:
    if rt.embedded is None:
        rt.embedded = EmbeddedWorker(rt.celery, rt.settings)
        rt.embedded.start()


def add_account(
    rt: Runtime,
    network: str,
    account_id: str,
    display: str,
    credentials: dict[str, Any],
    *,
    expires_at: datetime | None = None,
    who: Actor | None = None,
) -> int:
    """Store a connected account as the OAuth callback would (sealed credentials)."""
    person = who or actor("maria")
    ctx = rt.herald.ctx
    with ctx.tx() as tx:
        ws, me = resolve(tx, person, ctx.settings.timezone)
        row = oauth.save_account(
            tx,
            ctx.need_hub(),
            ws,
            me,
            network,
            NewAccount(account_id, display, credentials, expires_at),
            person.conversation,
        )
        return int(row.id)


def tiny_png(
    width: int = 64, height: int = 48, color: tuple[int, int, int] = (200, 30, 30)
) -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", (width, height), color).save(buffer, "PNG")
    return buffer.getvalue()


def make_request(
    rt: Runtime, network: str, text: str = "Hello from Herald", **kw: Any
) -> PublishRequest:
    ws_id = rt.herald.workspace_of(actor("maria"))
    return PublishRequest(
        target_id=kw.pop("target_id", 1),
        network=network,
        text=text,
        idempotency_key=kw.pop("idempotency_key", "herald-1-1-1"),
        workspace="Test",
        post_number=1,
        workspace_id=ws_id,
        **kw,
    )


def put_media(
    rt: Runtime, key: str, data: bytes, content_type: str, alt: str = ""
) -> dict[str, Any]:
    rt.herald.ctx.need_hub().media.put(key, data, content_type)
    return {"key": key, "content_type": content_type, "alt": alt}


def link_from(reply_text: str) -> str:
    start = reply_text.index("http://herald.test/")
    return reply_text[start:].split()[0]


def run_oauth_flow(rt: Runtime, web: TestClient, command: str) -> tuple[httpx.Response, str]:
    reply = rt.herald.handle(actor("maria"), command)
    assert not reply.error, reply.text
    assert reply.text is not None
    link = link_from(reply.text)
    path = link.removeprefix("http://herald.test")
    start = web.get(path, follow_redirects=False)
    assert start.status_code == 302, start.text
    # The browser goes to the network's authorization page, which sends it back to us.
    auth = httpx.get(start.headers["location"], follow_redirects=False)
    assert auth.status_code == 302, auth.text
    callback = auth.headers["location"].removeprefix("http://herald.test")
    done = web.get(callback)
    return done, link


class FlakyOutbox(OutboxPublisher):
    """The outbox network misbehaving like a real one: posts, then loses the answer."""

    def __init__(
        self, inner: OutboxPublisher, failures: list[Exception], *, post_first: bool
    ) -> None:
        super().__init__(inner.folder)
        self.failures = failures
        self.post_first = post_first
        self.calls = 0

    def publish(self, request: PublishRequest) -> Published:
        self.calls += 1
        if self.failures:
            if self.post_first:
                super().publish(request)
            raise self.failures.pop(0)
        return super().publish(request)


def approved_and_queued(rt: Runtime, network: str = "outbox") -> int:
    """Draft, generate, approve and claim one target, step by step (no worker)."""
    reply = rt.herald.handle(actor("maria"), f"draft Exactly once --to {network}")
    assert reply.post_number == 1
    with rt.db.session() as s:
        post_id = s.scalars(select(Target.post_id)).one()
    rt.herald.generate(post_id)
    assert rt.herald.handle(actor("maria"), "approve 1").text.startswith("✅")  # type: ignore[union-attr]
    assert rt.herald.dispatch_due() == 1
    with rt.db.session() as s:
        return s.scalars(select(Target.id)).one()


def flaky_outbox(rt: Runtime, failures: list[Exception], *, post_first: bool) -> FlakyOutbox:
    flaky = FlakyOutbox(rt.herald.ctx.publishers["outbox"], failures, post_first=post_first)  # type: ignore[arg-type]
    rt.herald.ctx.publishers = {"outbox": flaky}
    return flaky
