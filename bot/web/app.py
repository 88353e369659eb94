"""`herald web`: the HTTP app (health, metrics, Slack endpoints, Telegram webhook, OAuth
callbacks, the REST API under /api/v1)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from fastapi import FastAPI
from fastapi.responses import JSONResponse, Response

from bot.metrics import CONTENT_TYPE, Exported, Timing, runs_beat
from bot.slack import http as slack_http
from bot.telegram import webhook as telegram_webhook
from bot.web import api, oauth
from bot.web.guard import BodyLimit

if TYPE_CHECKING:
    from bot.runtime import Runtime


def create_app(runtime: Runtime) -> FastAPI:
    app = FastAPI(title="Herald", docs_url=None, redoc_url=None, openapi_url=None)
    app.add_middleware(BodyLimit, limit=runtime.settings.max_body_bytes)
    app.add_middleware(Timing)  # outermost: its time includes the body limit's refusals
    exported = Exported(runtime if runs_beat(runtime) else None)

    @app.get("/healthz")
    def health() -> JSONResponse:
        with runtime.db.engine.connect() as conn:
            conn.exec_driver_sql("SELECT 1")
        return JSONResponse({"ok": True})

    @app.get("/metrics")
    def metrics() -> Response:
        return Response(exported.text(), media_type=CONTENT_TYPE)

    app.include_router(slack_http.router(runtime))
    app.include_router(telegram_webhook.router(runtime))
    app.include_router(oauth.router(runtime))
    app.mount("/api/v1", api.app(runtime))
    return app
