"""Slack over HTTP inside `herald web`: events, commands, interactivity and the OAuth install.

Each request's signature is checked before its body is parsed (401 on a forged, stale,
altered or unsigned request, before bolt or any listener runs; bolt's own check is off).
`App.dispatch` blocks until the listener acks, so it runs on a worker thread of its own
pool, the event loop accepting requests meanwhile, except for slash commands and card
buttons: their listeners do no I/O but the rate-limit and replay counters (in memory, or
a Redis round trip each) and the inbox write, which the inbox's writer thread does, so
bolt runs them on the loop and the answer awaits the write.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Any

import anyio
from fastapi import APIRouter, Request, Response
from fastapi.responses import PlainTextResponse
from slack_bolt import App, BoltRequest, BoltResponse
from slack_bolt.adapter.starlette.handler import to_bolt_request, to_starlette_response
from slack_sdk.signature import SignatureVerifier

from bot.slack.delivery import configured
from bot.web.guard import AddressLimit
from core import metrics

if TYPE_CHECKING:
    from bot.runtime import Runtime

DISPATCH_THREADS = 64
Route = Callable[[Request], Awaitable[Response]]


def router(runtime: Runtime) -> APIRouter:
    routes = APIRouter(prefix="/slack")
    settings = runtime.settings
    if not configured(settings) or settings.slack_signing_secret is None:
        return routes  # Slack over HTTP is off: no /slack routes at all
    from bot.slack.app import Handlers, build_bolt_app
    from bot.slack.concurrency import DEFERRED, Deferred

    handlers = Handlers(runtime)
    app: App = build_bolt_app(runtime, handlers=handlers)
    limiter = anyio.CapacityLimiter(DISPATCH_THREADS)
    verifier = SignatureVerifier(settings.slack_signing_secret.get_secret_value())

    async def dispatch(request: Request) -> Response:
        began = time.perf_counter()
        body = await request.body()
        refused = _unverified(request, body, verifier)
        if refused is not None:
            if refused.status_code == 401:
                metrics.REJECTED_REQUESTS.labels("slack").inc()
            return refused
        try:
            bolt_request = to_bolt_request(request, body)
        except (ValueError, TypeError, AttributeError, KeyError):
            return PlainTextResponse("The request body is not one Slack sends.", 400)
        if handlers.on_loop(bolt_request.body):
            # Slash commands and card buttons: bolt on the loop, the write by the inbox's
            # writer thread, the answer once it is stored (see `Deferred`).
            deferred = Deferred(asyncio.get_running_loop())
            token = DEFERRED.set(deferred)
            try:
                bolt_response = app.dispatch(bolt_request)
            finally:
                DEFERRED.reset(token)
            bolt_response = await deferred.settle(bolt_response)
        else:
            bolt_response = await anyio.to_thread.run_sync(
                app.dispatch, bolt_request, limiter=limiter
            )
        metrics.ACK_SECONDS.labels(_kind(bolt_request.body)).observe(time.perf_counter() - began)
        return to_starlette_response(bolt_response)

    # One URL serves all three (bolt tells them apart); the other two exist for manifests
    # that name them separately.
    for path in ("/events", "/commands", "/interactions"):
        routes.add_api_route(path, dispatch, methods=["POST"], include_in_schema=False)

    flow = app.oauth_flow
    if flow is not None:
        # Each visit to the install page stores a state row: one address may not flood it.
        per_address = AddressLimit(runtime.herald.ctx.limits, settings)

        def step(kind: str, handle: Callable[[BoltRequest], BoltResponse]) -> Route:
            """A GET of the install flow, limited per address, handled by bolt in a thread."""

            async def route(request: Request) -> Response:
                refused = per_address.refused(request, kind)
                if refused is not None:
                    return refused
                bolt_request = to_bolt_request(request, await request.body())
                resp = await anyio.to_thread.run_sync(handle, bolt_request)
                return to_starlette_response(resp)

            return route

        for path, kind, handle in (
            ("/install", "slack-install", flow.handle_installation),
            ("/oauth_redirect", "slack-oauth", flow.handle_callback),
        ):
            routes.add_api_route(path, step(kind, handle), methods=["GET"], include_in_schema=False)
    return routes


# What Slack sends, by its `type` (a slash command has none): a bounded label for the ack metric.
KINDS = {
    "block_actions": "action",
    "block_suggestion": "action",
    "interactive_message": "action",
    "shortcut": "action",
    "message_action": "action",
    "view_submission": "view",
    "view_closed": "view",
    "event_callback": "event",
    "url_verification": "event",
}


def _kind(body: dict[str, Any]) -> str:
    if "command" in body:
        return "command"
    return KINDS.get(str(body.get("type", "")), "other")


def _unverified(request: Request, body: bytes, verifier: SignatureVerifier) -> Response | None:
    """401 for a request not signed by Slack, checked before the body is parsed.

    Bolt verifies too, but only after parsing the body (JSON or form): a hostile body would
    raise there before any signature was looked at. The timestamp must be digits (bolt reads
    it with `int()`), the body UTF-8, the signature Slack's for both.
    """
    timestamp = request.headers.get("X-Slack-Request-Timestamp", "")
    signature = request.headers.get("X-Slack-Signature", "")
    if not (timestamp.isascii() and timestamp.isdigit() and len(timestamp) <= 12):
        return PlainTextResponse("The request timestamp is missing or not a number.", 401)
    try:
        text = body.decode("utf-8")
    except UnicodeDecodeError:
        return PlainTextResponse("The request body is not UTF-8 text.", 400)
    if not verifier.is_valid(body=text, timestamp=timestamp, signature=signature):
        return PlainTextResponse("The request is not signed by Slack.", 401)
    return None
