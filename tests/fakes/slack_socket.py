"""A local Slack Socket Mode end: a real websocket server the app connects to.

As Slack does, `apps.connections.open` (FakeSlack, with the app-level token) hands out a
one-time URL; a connection to it gets `hello`, then envelopes the test pushes; the app acks each
envelope with its id (and, for commands and forms, the response payload), and the acks are
recorded. `refresh()` asks the app to reconnect, as Slack does every few hours: once the app's
new connection is open the old one is closed (Slack waits some seconds; here at once). The
payload builders reuse the HTTP request builders of tests.fakes.slack, so both transports carry
the same fields.
"""

from __future__ import annotations

import http
import json
import socket
import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any
from urllib.parse import parse_qs, parse_qsl, urlsplit

from websockets.datastructures import Headers
from websockets.exceptions import ConnectionClosed
from websockets.http11 import Request, Response
from websockets.sync.server import Server, ServerConnection, serve

from tests.fakes.slack import FakeSlack, click, event, slash

APP_ID = "A0HERALD"


@dataclass(frozen=True)
class Ack:
    envelope_id: str
    payload: dict[str, Any] | None
    connection: int  # which connection (1, 2, …) carried it


@dataclass
class _Link:
    number: int
    ws: ServerConnection
    refreshing: bool = False


class FakeSocketMode:
    """Slack's side of Socket Mode. Wire it to a FakeSlack with `attach`."""

    def __init__(self) -> None:
        self.lock = threading.Condition()  # reentrant: waits may read under it
        self.acks: list[Ack] = []
        self.strays: list[str] = []  # text frames from the app that are no ack
        self.tickets: dict[str, bool] = {}  # issued ticket -> used
        self.refused = 0  # connections with an unknown or reused ticket
        self.links: list[_Link] = []  # open connections, oldest first
        self.opened = 0  # connections that got `hello`
        sock = socket.create_server(("127.0.0.1", 0))
        self.port = int(sock.getsockname()[1])
        self.server: Server = serve(
            self._serve,
            sock=sock,
            process_request=self._check_ticket,
            compression=None,
            ping_interval=None,
            server_header=None,
        )
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def attach(self, slack: FakeSlack) -> FakeSocketMode:
        slack.socket_url = self.new_url
        return self

    def close(self) -> None:
        self.server.shutdown()
        with self.lock:
            links = list(self.links)
        for link in links:
            link.ws.close()
        self.thread.join(5)

    # --- what Slack does -----------------------------------------------------------------

    def new_url(self) -> str:
        """A fresh URL for one connection, as apps.connections.open returns."""
        ticket = uuid.uuid4().hex
        with self.lock:
            self.tickets[ticket] = False
        return f"ws://127.0.0.1:{self.port}/link/?ticket={ticket}&app_id={APP_ID}"

    def _check_ticket(self, ws: ServerConnection, request: Request) -> Response | None:
        ticket = (parse_qs(urlsplit(request.path).query).get("ticket") or [""])[0]
        with self.lock:
            if self.tickets.get(ticket) is False:
                self.tickets[ticket] = True
                return None
            self.refused += 1
        body = b"invalid ticket\n"
        headers = Headers({"Content-Type": "text/plain", "Content-Length": str(len(body))})
        return Response(http.HTTPStatus.UNAUTHORIZED, "Unauthorized", headers, body)

    def _serve(self, ws: ServerConnection) -> None:
        with self.lock:
            self.opened += 1
            link = _Link(self.opened, ws)
            refreshed = [old.ws for old in self.links if old.refreshing]
            self.links.append(link)
            hello = {
                "type": "hello",
                "num_connections": len(self.links),
                "debug_info": {
                    "host": "applink-fake",
                    "build_number": 1,
                    "approximate_connection_time": 18060,
                },
                "connection_info": {"app_id": APP_ID},
            }
            self.lock.notify_all()
        for old in refreshed:  # in the background: `hello` on the new one is not held up
            threading.Thread(target=old.close, daemon=True).start()
        try:
            ws.send(json.dumps(hello))
            for raw in ws:
                self._received(link, raw)
        except ConnectionClosed:
            pass
        finally:
            with self.lock:
                self.links.remove(link)
                self.lock.notify_all()

    def _received(self, link: _Link, raw: str | bytes) -> None:
        text = raw.decode() if isinstance(raw, bytes) else raw
        try:
            message = json.loads(text)
        except ValueError:
            message = None
        with self.lock:
            if isinstance(message, dict) and message.get("envelope_id"):
                self.acks.append(Ack(message["envelope_id"], message.get("payload"), link.number))
            else:
                self.strays.append(text)
            self.lock.notify_all()

    # --- test controls -------------------------------------------------------------------

    def wait_connected(self, count: int = 1, timeout: float = 20) -> None:
        """Until the app has opened `count` connections in all and only the newest is open."""
        self._wait(
            lambda: self.opened >= count and len(self.links) == 1,
            timeout,
            f"connection {count}",
        )

    def deliver(
        self,
        kind: str,
        payload: dict[str, Any],
        *,
        envelope_id: str | None = None,
        accepts_response_payload: bool | None = None,
        retry_attempt: int | None = None,
        retry_reason: str | None = None,
    ) -> str:
        """Send an envelope on the newest connection; its id."""
        envelope_id = envelope_id or f"{uuid.uuid4()}"
        if accepts_response_payload is None:
            accepts_response_payload = kind == "slash_commands" or (
                kind == "interactive" and payload.get("type") == "view_submission"
            )
        envelope: dict[str, Any] = {
            "envelope_id": envelope_id,
            "type": kind,
            "payload": payload,
            "accepts_response_payload": accepts_response_payload,
        }
        if kind == "events_api":
            envelope["retry_attempt"] = retry_attempt or 0
            envelope["retry_reason"] = retry_reason or ""
        self._wait(lambda: bool(self.links), 20, "an open connection")
        with self.lock:
            ws = self.links[-1].ws
        ws.send(json.dumps(envelope))
        return envelope_id

    def acks_of(self, envelope_id: str) -> list[Ack]:
        with self.lock:
            return [a for a in self.acks if a.envelope_id == envelope_id]

    def ack(self, envelope_id: str, timeout: float = 10, nth: int = 1) -> Ack:
        """The app's `nth` ack of an envelope (Slack may deliver one again), waited for."""
        self._wait(
            lambda: len(self.acks_of(envelope_id)) >= nth, timeout, f"ack {nth} of {envelope_id}"
        )
        return self.acks_of(envelope_id)[nth - 1]

    def refresh(self) -> None:
        """Slack's `disconnect` (refresh_requested): the app opens a new connection."""
        with self.lock:
            link = self.links[-1]
            link.refreshing = True
        link.ws.send(
            json.dumps(
                {
                    "type": "disconnect",
                    "reason": "refresh_requested",
                    "debug_info": {"host": "applink-fake"},
                }
            )
        )

    def _wait(self, ready: Callable[[], bool], timeout: float, what: str) -> None:
        deadline = time.monotonic() + timeout
        with self.lock:
            while not ready():
                left = deadline - time.monotonic()
                if left <= 0:
                    raise AssertionError(f"timed out waiting for {what}")
                self.lock.wait(min(left, 0.2))


# --- payloads: the fields of the HTTP requests, as Socket Mode carries them --------------


def slash_payload(text: str, user: str, **extra: str) -> dict[str, Any]:
    """A `/herald` command: the form fields of the HTTP request as one JSON object."""
    body, _ = slash(text, user=user, **extra)
    return dict(parse_qsl(body))


def click_payload(
    fake: FakeSlack, action: str, value: str, *, user: str, channel: str, ts: str
) -> dict[str, Any]:
    """A card button: the block_actions payload."""
    body, _ = click(fake, action, value, user=user, channel=channel, ts=ts)
    payload: dict[str, Any] = json.loads(dict(parse_qsl(body))["payload"])
    return payload


def event_payload(inner: dict[str, Any], event_id: str) -> dict[str, Any]:
    """An Events API callback."""
    body, _ = event(inner, event_id)
    payload: dict[str, Any] = json.loads(body)
    return payload
