"""What `herald web` refuses before any endpoint runs: bodies over the cap, and too many
requests from one address on the public pages.

The cap is a pure ASGI middleware: a `Content-Length` over it is answered 413 without reading
a byte, and a body without one (chunked) is counted while it streams and cut off at the cap.
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING

from starlette.requests import Request
from starlette.responses import JSONResponse, PlainTextResponse, Response
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from core.ratelimit import Counter, over_limit

if TYPE_CHECKING:
    from core.settings import Settings

TOO_LARGE = "The request body is too large for Herald ({limit:,} bytes at most)."


class _TooLarge(Exception):
    pass


class BodyLimit:
    """413 for a request body over `limit` bytes, before the endpoint reads it."""

    def __init__(self, app: ASGIApp, limit: int) -> None:
        self.app = app
        self.limit = limit

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        declared = _content_length(scope)
        if declared == -1:
            await PlainTextResponse("Content-Length is not a number.", 400)(scope, receive, send)
            return
        if declared is not None and declared > self.limit:
            await self._refuse(scope, receive, send)
            return
        received = 0
        started = False

        async def counted() -> Message:
            nonlocal received
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > self.limit:
                    raise _TooLarge
            return message

        async def watched(message: Message) -> None:
            nonlocal started
            if message["type"] == "http.response.start":
                started = True
            await send(message)

        try:
            await self.app(scope, counted, watched)
        except _TooLarge:
            if not started:
                await self._refuse(scope, receive, send)

    async def _refuse(self, scope: Scope, receive: Receive, send: Send) -> None:
        # Connection: close, so the rest of the body is never read.
        text = TOO_LARGE.format(limit=self.limit)
        headers = {"Connection": "close"}
        response: Response = PlainTextResponse(text, 413, headers=headers)
        if str(scope.get("path", "")).startswith("/api/"):  # the REST API's problem details
            body = {"type": "about:blank", "title": "Content Too Large", "status": 413}
            body |= {"detail": text, "instance": scope["path"]}
            response = JSONResponse(body, 413, headers, media_type="application/problem+json")
        await response(scope, receive, send)


def _content_length(scope: Scope) -> int | None:
    """The declared length; None when absent, -1 when it is not a number."""
    for name, value in scope.get("headers", []):
        if name == b"content-length":
            text = value.decode("latin-1").strip()
            return int(text) if text.isdigit() else -1
    return None


def client_address(request: Request) -> str:
    """The peer's address (behind a proxy, uvicorn's --forwarded-allow-ips makes it the
    client's own)."""
    return request.client.host if request.client else "unknown"


class AddressLimit:
    """At most `http_rate_limit` requests per window from one address, per kind of request."""

    def __init__(self, counter: Counter, settings: Settings) -> None:
        self.counter = counter
        self.limit = settings.http_rate_limit
        self.window = settings.http_rate_window_seconds

    def refused(self, request: Request, kind: str) -> Response | None:
        """Count this request; a 429 to answer instead when the address is over the limit."""
        wait = over_limit(
            self.counter, f"http:{kind}:{client_address(request)}", self.limit, self.window
        )
        return None if wait is None else too_many(wait)


def too_many(wait: float) -> Response:
    seconds = max(1, math.ceil(wait))
    return PlainTextResponse(
        f"Too many requests from your address. Try again in {seconds} s.",
        429,
        headers={"Retry-After": str(seconds)},
    )
