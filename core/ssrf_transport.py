"""The httpx transport of the SSRF policy in `core.ssrf` (kept apart so that checking an
address never loads httpx)."""

from __future__ import annotations

import threading
from typing import TYPE_CHECKING

import httpx

if TYPE_CHECKING:
    from core.ssrf import SafeFetcher


class SafeTransport(httpx.BaseTransport):
    """The one way Herald talks to a server a person named: check, pin, never redirect.

    For every request (every hop of a redirect a client follows, too) the host is resolved
    once and checked by the policy, and the socket goes to that checked address: a second DNS
    answer (rebinding) is never asked for. The URL keeps its name, so the Host header, TLS SNI
    and certificate check are for the name, not the address. The transport itself never
    follows redirects. A refusal raises `Refused` before anything is sent.
    """

    def __init__(self, policy: SafeFetcher) -> None:
        self._policy = policy
        self._lock = threading.Lock()
        # One pool per checked (scheme, name, port, address): a connection made for one name
        # (its SNI, its certificate) is never reused for another name at the same address.
        self._pools: dict[tuple[str, str, int, str], httpx.HTTPTransport] = {}

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        scheme, host, port, address = self._policy.check(str(request.url))
        key = (scheme, host, port, address)
        with self._lock:
            pool = self._pools.get(key)
            if pool is None:
                pool = self._pools[key] = httpx.HTTPTransport(retries=0)
        pinned = httpx.Request(
            request.method,
            request.url.copy_with(host=address),
            headers=request.headers,  # Host still names the server, as the client set it
            stream=request.stream,
            extensions={**request.extensions, "sni_hostname": host},
        )
        return pool.handle_request(pinned)

    def close(self) -> None:
        with self._lock:
            pools, self._pools = list(self._pools.values()), {}
        for pool in pools:
            pool.close()
