"""Serving Herald's metrics (core/metrics.py): `/metrics` on `herald web`, a small port on a
worker and the scheduler, and the backlog read at each scrape by the process that runs beat.

The backlog (targets due, queued, the oldest one's lag, the jobs waiting in each lane) is read
from the database and Redis when Prometheus scrapes, not kept in memory: only the process that
runs the scheduler exports it (`herald scheduler`, `herald worker -B`, or the embedded worker of
`herald web`/`chat`), so an install has one series of it, not one per worker.
"""

from __future__ import annotations

import hmac
import ipaddress
import logging
import socket
import threading
import time
from collections.abc import Iterable, Iterator
from typing import TYPE_CHECKING, Any
from wsgiref.simple_server import WSGIRequestHandler, WSGIServer, make_server

from prometheus_client import REGISTRY, CollectorRegistry, generate_latest, make_wsgi_app
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.exposition import ThreadingWSGIServer
from prometheus_client.registry import Collector
from pydantic import SecretStr
from sqlalchemy.exc import SQLAlchemyError
from starlette.routing import Match
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from core import metrics
from core.scheduling.queries import backlog
from workers.app import CeleryQueue

if TYPE_CHECKING:
    from bot.runtime import Runtime

log = logging.getLogger(__name__)
CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"


class Backlog(Collector):
    """The publish backlog and the lanes' depths, read at each scrape."""

    def __init__(self, runtime: Runtime) -> None:
        self.runtime = runtime
        self.queue = CeleryQueue(runtime.celery)

    def collect(self) -> Iterator[GaugeMetricFamily]:
        targets = GaugeMetricFamily(
            "herald_publish_backlog",
            "Targets whose time has come and that are not out yet, by state (due: not yet "
            "claimed by a tick; queued: claimed, waiting for a worker).",
            labels=["state"],
        )
        lag = GaugeMetricFamily(
            "herald_publish_lag_seconds",
            "How long past its scheduled time the longest-waiting due target is (0: none).",
        )
        depth = GaugeMetricFamily(
            "herald_queue_depth", "Jobs waiting in each lane's Redis queue.", labels=["lane"]
        )
        # A store that does not answer leaves its series out of this scrape (the families
        # stay declared), which the rules read as "no data", never as an empty queue.
        try:
            with self.runtime.herald.ctx.tx() as tx:
                now = backlog(tx.session, tx.now)
        except SQLAlchemyError as exc:
            log.warning("metrics: the database did not answer for the backlog: %s", type(exc))
        else:
            targets.add_metric(["due"], now.due)
            targets.add_metric(["queued"], now.queued)
            lag.add_metric([], now.oldest_seconds)
        try:
            lanes = self.queue.depths()  # {} on the embedded mode's in-memory broker
        except Exception as exc:  # noqa: BLE001 - a scrape reports what it can
            log.warning("metrics: Redis did not answer for the queue depths: %s", type(exc))
            lanes = {}
        for lane, n in sorted(lanes.items()):
            depth.add_metric([lane], n)
        yield from (targets, lag, depth)


class Exported:
    """What one process exports: every Herald metric, plus the backlog where beat runs."""

    def __init__(self, runtime: Runtime | None = None) -> None:
        self.extra = CollectorRegistry(auto_describe=False)
        if runtime is not None:
            self.extra.register(Backlog(runtime))

    def collect(self) -> Iterator[Any]:
        yield from REGISTRY.collect()
        yield from self.extra.collect()

    def text(self) -> bytes:
        return generate_latest(self)  # anything with collect() will do


# What a scrape without the token, or with another, is told (401). The token is never in it.
NO_BEARER = "These metrics need a token: send Authorization: Bearer <HERALD_METRICS_TOKEN>.\n"
WRONG_BEARER = "That is not this install's metrics token (HERALD_METRICS_TOKEN).\n"


def refusal(token: SecretStr | None, authorization: str | None) -> str | None:
    """Why a scrape with this Authorization header is refused, or None when it may read.

    Without a token set the metrics are open (a laptop; the servers keep them on a private
    address). The compare takes the same time wherever the given token first differs."""
    if token is None:
        return None
    scheme, _, given = (authorization or "").strip().partition(" ")
    if scheme.lower() != "bearer" or not given.strip():
        return NO_BEARER
    if not hmac.compare_digest(given.strip().encode(), token.get_secret_value().encode()):
        return WRONG_BEARER
    return None


def open_to_others(host: str, token: SecretStr | None) -> str | None:
    """The warning for /metrics served without a token on an address others may reach."""
    if token is not None or host == "localhost" or _loopback(host):
        return None
    return (
        f"herald web listens on {host} and HERALD_METRICS_TOKEN is unset: whoever reaches this "
        "port reads /metrics. Set it (openssl rand -hex 32) and give Prometheus the same token."
    )


def _loopback(host: str) -> bool:
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:  # a name: it may resolve to anything
        return False


def runs_beat(runtime: Runtime) -> bool:
    """The embedded mode runs beat in this process."""
    return runtime.settings.embedded


def serve(exported: Exported, host: str, port: int, token: SecretStr | None = None) -> WSGIServer:
    """Serve `exported` on host:port in a daemon thread, to the bearer of `token` when one is
    set; the server, to close it.

    prometheus_client's start_http_server, with the token's check in front of its app (it
    takes no check of its own)."""
    family, address = _bindable(host, port)

    class Server(ThreadingWSGIServer):
        address_family = family

    server = make_server(address, port, guarded(make_wsgi_app(exported), token), Server, _Quiet)
    threading.Thread(target=server.serve_forever, name="metrics", daemon=True).start()
    return server


def guarded(app: Any, token: SecretStr | None) -> Any:
    """The WSGI `app`, answering 401 to a request without `token` (see `refusal`)."""

    def checked(environ: dict[str, Any], start_response: Any) -> Iterable[bytes]:
        refused = refusal(token, environ.get("HTTP_AUTHORIZATION"))
        if refused is None:
            return app(environ, start_response)  # type: ignore[no-any-return]
        headers = [("Content-Type", "text/plain; charset=utf-8"), ("WWW-Authenticate", "Bearer")]
        start_response("401 Unauthorized", headers)
        return [refused.encode()]

    return checked


def _bindable(host: str, port: int) -> tuple[socket.AddressFamily, str]:
    """IPv4 or IPv6, from the address itself ("::" binds v6), as start_http_server does."""
    found = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE)
    family, _, _, _, sockaddr = found[0]
    return family, str(sockaddr[0])


class _Quiet(WSGIRequestHandler):
    """No line a scrape on stderr (wsgiref writes one a request)."""

    def log_message(self, format: str, *args: Any) -> None:
        pass


def port_taken(what: str, host: str, port: int, option: str) -> str:
    return (
        f"Port {port} on {host} is taken, so this {what} can't serve its metrics there "
        f"(another {what} on this host?). Give it its own: {option} 9103, or 0 for none."
    )


class Timing:
    """ASGI middleware: `herald_http_request_duration_seconds` by route template, never by
    path (a path can carry an id), method and status class."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        began = time.perf_counter()
        status = 500

        async def sending(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = int(message["status"])
            await send(message)

        try:
            await self.app(scope, receive, sending)
        finally:
            method = scope.get("method", "GET")
            metrics.HTTP_SECONDS.labels(
                _route(scope), method if method in METHODS else "other", f"{status // 100}xx"
            ).observe(time.perf_counter() - began)


METHODS = frozenset({"GET", "POST", "PUT", "PATCH", "DELETE", "HEAD", "OPTIONS"})


def _route(scope: Scope) -> str:
    """The template of the route that served `scope` ("unmatched" for a 404)."""
    served = scope.get("route")  # set by the router on the scope it was given
    if served is not None and isinstance(getattr(served, "path", None), str):
        return str(served.path)
    app = scope.get("app")
    for route in getattr(app, "routes", ()):
        match, _ = route.matches(scope)
        if match == Match.FULL:
            return str(getattr(route, "path", "unmatched"))
    return "unmatched"
