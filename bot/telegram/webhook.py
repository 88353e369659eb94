"""`/telegram/webhook` in `herald web`: Telegram POSTs updates here, signed with our secret."""

from __future__ import annotations

import hmac
import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import TYPE_CHECKING, Any

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse
from telegram import Update
from telegram.ext import Application

from bot.telegram.app import ALLOWED_UPDATES, build_application, set_menu
from core import metrics

if TYPE_CHECKING:
    from bot.runtime import Runtime

log = logging.getLogger(__name__)
SECRET_HEADER = "X-Telegram-Bot-Api-Secret-Token"  # noqa: S105 (a header name, not a secret)


def router(runtime: Runtime) -> APIRouter:
    state: dict[str, Application] = {}  # type: ignore[type-arg]

    @asynccontextmanager
    async def lifespan(_: Any) -> AsyncIterator[None]:
        settings = runtime.settings
        if settings.telegram_token is None:
            yield
            return
        if settings.telegram_webhook_url and settings.telegram_webhook_secret is None:
            raise RuntimeError(
                "HERALD_TELEGRAM_WEBHOOK_URL is set without HERALD_TELEGRAM_WEBHOOK_SECRET: set "
                "a secret (1-256 of A-Z a-z 0-9 _ -) so that only Telegram can post updates."
            )
        application = build_application(runtime, polling=False)
        await application.initialize()
        await application.start()
        await set_menu(application)
        if settings.telegram_webhook_url and settings.telegram_webhook_secret is not None:
            await application.bot.set_webhook(
                settings.telegram_webhook_url,
                secret_token=settings.telegram_webhook_secret.get_secret_value(),
                allowed_updates=ALLOWED_UPDATES,
            )
        state["app"] = application
        try:
            yield
        finally:
            state.pop("app", None)
            await application.stop()
            await application.shutdown()

    api = APIRouter(lifespan=lifespan)

    @api.post("/telegram/webhook", include_in_schema=False)
    async def webhook(request: Request) -> JSONResponse:
        secret = runtime.settings.telegram_webhook_secret
        given = request.headers.get(SECRET_HEADER, "")
        # Constant-time compare; without a configured secret nothing is accepted at all.
        if secret is None or not hmac.compare_digest(
            given.encode(), secret.get_secret_value().encode()
        ):
            metrics.REJECTED_REQUESTS.labels("telegram").inc()
            return JSONResponse({"ok": False, "error": "forbidden"}, status_code=403)
        application = state.get("app")
        if application is None:
            return JSONResponse({"ok": False, "error": "Telegram is not configured"}, 503)
        try:
            data = await request.json()
            # A JSON list, string or number, or an object without a numeric update_id, is
            # no Update: refused before PTB reads it.
            is_update = isinstance(data, dict) and type(data.get("update_id")) is int
            update = Update.de_json(data, application.bot) if is_update else None
        except (ValueError, KeyError, TypeError, AttributeError):
            return JSONResponse({"ok": False, "error": "not an Update"}, status_code=400)
        if update is None:
            return JSONResponse({"ok": False, "error": "not an Update"}, status_code=400)
        # Processed before answering: a 200 means done. Handler errors are answered by the
        # error handler, so Telegram never redelivers an update that was handled badly.
        await application.process_update(update)
        return JSONResponse({"ok": True})

    return api
