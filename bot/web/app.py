"""`herald web`: the HTTP app (health, metrics, Slack endpoints, Telegram webhook, OAuth
callbacks, the REST API under /api/v1)."""

from __future__ import annotations

import re
import secrets
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING

from fastapi import FastAPI, Request, Response
from fastapi.responses import JSONResponse, PlainTextResponse
from starlette.concurrency import run_in_threadpool

from bot.metrics import CONTENT_TYPE, Exported, Timing, refusal, runs_beat
from bot.slack import http as slack_http
from bot.telegram import webhook as telegram_webhook
from bot.web import api, oauth
from bot.web.guard import BodyLimit
from core.logcontext import bound
from core.operations.counts import Counted, note
from core.operations.health import readiness

if TYPE_CHECKING:
    from bot.runtime import Runtime

# A request id a proxy passed on is kept only when it looks like one (no log injection).
_REQUEST_ID = re.compile(r"[A-Za-z0-9._-]{1,64}")
# The endpoints only Slack (signed) or Telegram (with our secret) may call.
_SIGNED = ("/slack/", "/telegram/webhook")


def create_app(runtime: Runtime) -> FastAPI:
    app = FastAPI(title="Herald", docs_url=None, redoc_url=None, openapi_url=None)
    app.add_middleware(BodyLimit, limit=runtime.settings.max_body_bytes)
    app.add_middleware(Timing)  # outermost: its time includes the body limit's refusals
    exported = Exported(runtime if runs_beat(runtime) else None)

    @app.middleware("http")
    async def request_id(
        request: Request, call_next: Callable[[Request], Awaitable[Response]]
    ) -> Response:
        given = request.headers.get("x-request-id", "")
        rid = given if _REQUEST_ID.fullmatch(given) else secrets.token_hex(8)
        with bound(request_id=rid):
            response = await call_next(request)
        response.headers["X-Request-ID"] = rid
        if response.status_code in (401, 403) and request.url.path.startswith(_SIGNED):
            # Not signed by Slack, or without Telegram's secret: counted for the burst alert.
            ctx = runtime.herald.ctx
            await run_in_threadpool(note, ctx.db, Counted.REJECTED_SIGNATURE, ctx.clock.now())
        return response

    @app.get("/healthz")
    def health() -> JSONResponse:
        """The process lives and answers: what a liveness probe restarts it on."""
        return JSONResponse({"ok": True})

    @app.get("/metrics")
    def metrics(request: Request) -> Response:
        """Prometheus' scrape; with HERALD_METRICS_TOKEN set, only with that bearer token."""
        refused = refusal(runtime.settings.metrics_token, request.headers.get("authorization"))
        if refused is not None:
            return PlainTextResponse(
                refused, status_code=401, headers={"WWW-Authenticate": "Bearer"}
            )
        return Response(exported.text(), media_type=CONTENT_TYPE)

    @app.get("/readyz")
    def ready() -> JSONResponse:
        """Database, broker, schema, a live worker and a live scheduler: 503 when any fails."""
        checks = readiness(runtime.herald.ctx)
        ok = all(check.ok for check in checks)
        body = {
            "ok": ok,
            "checks": {c.name: {"ok": c.ok, "detail": c.detail} for c in checks},
        }
        return JSONResponse(body, status_code=200 if ok else 503)

    app.include_router(slack_http.router(runtime))
    app.include_router(telegram_webhook.router(runtime))
    app.include_router(oauth.router(runtime))
    app.mount("/api/v1", api.app(runtime))
    return app
