"""Serving Herald's metrics (core/metrics.py): `/metrics` on `herald web`, a small port on a
worker and the scheduler, and the backlog read at each scrape by the process that runs beat.

The backlog (targets due, queued, the oldest one's lag, the jobs waiting in each lane) is read
from the database and Redis when Prometheus scrapes, not kept in memory: only the process that
runs the scheduler exports it (`herald scheduler`, `herald worker -B`, or the embedded worker of
`herald web`/`chat`), so an install has one series of it, not one per worker.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Iterator
from typing import TYPE_CHECKING, Any

from prometheus_client import REGISTRY, CollectorRegistry, generate_latest, start_http_server
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.registry import Collector
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


def runs_beat(runtime: Runtime) -> bool:
    """The embedded mode runs beat in this process."""
    return runtime.settings.embedded


def serve(exported: Exported, host: str, port: int) -> Any:
    """Serve `exported` on host:port in a daemon thread; the server, to close it."""
    server, _ = start_http_server(port, addr=host, registry=exported)
    return server


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
