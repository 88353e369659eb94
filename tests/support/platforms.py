"""Herald pointed at the local network fakes: a runtime that may reach 127.0.0.1, a connected
account as the OAuth callback stores it, a publish request, media in the store."""

from __future__ import annotations

import io
import ipaddress
from datetime import datetime
from typing import Any

from PIL import Image
from pydantic import SecretStr

from bot.runtime import Runtime, build_runtime
from core import oauth
from core.platforms.base import hub_of
from core.ports import PublishRequest
from core.settings import Settings
from core.ssrf import SafeFetcher
from core.workspaces import Actor, resolve
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
    hub_of(rt.herald.ctx.publishers).fetcher = SafeFetcher(
        allow=(ipaddress.ip_network("127.0.0.0/8"),)
    )
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
            hub_of(ctx.publishers),
            ws,
            me,
            network,
            oauth.NewAccount(account_id, display, credentials, expires_at),
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
    hub_of(rt.herald.ctx.publishers).media.put(key, data, content_type)
    return {"key": key, "content_type": content_type, "alt": alt}
