"""Calling a server someone named in chat without letting it reach inside our network (SSRF).

`SafeFetcher` is the policy (and downloads media links); `SafeTransport` (in
`core.ssrf_transport`) applies it to every request of an httpx client, so Mastodon instances,
Bluesky servers and OAuth calls to them go through the same checks as media links.

Rules: http(s) only; the host must be a name or a plain dotted-quad/IPv6 literal (no decimal,
hex or octal tricks); every address the name resolves to must be public (no private, loopback,
link-local, metadata, multicast, reserved, or IPv4-mapped/6to4/Teredo wrappers of those); the
connection goes to the address that was checked (no second DNS answer can swap it); redirects
are never followed by the transport, so each hop a client follows is checked the same way;
downloads are capped in size and time.
"""

from __future__ import annotations

import ipaddress
import socket
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING
from urllib.parse import urljoin, urlsplit

if TYPE_CHECKING:
    import httpx

    from core.ssrf_transport import SafeTransport


Resolver = Callable[[str, int], Sequence[str]]
IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
IPNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network

MAX_BYTES = 50 * 1024 * 1024
TIMEOUT = 20.0
MAX_REDIRECTS = 3
_METADATA = {
    ipaddress.ip_address("169.254.169.254"),
    ipaddress.ip_address("fd00:ec2::254"),
    ipaddress.ip_address("100.100.100.200"),  # Alibaba Cloud
}


class Refused(ValueError):
    """The URL may not be fetched; `str()` says why in plain words."""


def system_resolver(host: str, port: int) -> list[str]:
    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except socket.gaierror as exc:
        raise Refused(f"the name {host} does not resolve") from exc
    return [str(info[4][0]) for info in infos]


def _why_not_public(address: IPAddress) -> str | None:
    if isinstance(address, ipaddress.IPv6Address):
        wrapped = (
            address.ipv4_mapped
            or address.sixtofour
            or (address.teredo[1] if address.teredo else None)
        )
        if wrapped is not None:
            reason = _why_not_public(wrapped)
            return f"an IPv6 wrapper of {wrapped} ({reason})" if reason else None
    if address in _METADATA:
        return "a cloud metadata address"
    checks = (
        ("is_loopback", "a loopback address"),
        ("is_link_local", "a link-local address"),
        ("is_private", "a private address"),
        ("is_multicast", "a multicast address"),
        ("is_unspecified", "an unspecified address"),
        ("is_reserved", "a reserved address"),
    )
    for attribute, reason in checks:
        if getattr(address, attribute):
            return reason
    if isinstance(address, ipaddress.IPv4Address) and address in ipaddress.ip_network(
        "100.64.0.0/10"
    ):
        return "a carrier-grade NAT address"
    if not address.is_global:
        return "not a public address"
    return None


def _literal(host: str) -> IPAddress | None:
    """The host as an IP literal, refusing the odd spellings resolvers accept."""
    bare = host.strip("[]")
    try:
        return ipaddress.ip_address(bare)
    except ValueError:
        pass
    # 2130706433, 0x7f000001, 0177.0.0.1, 127.1: inet_aton accepts them, so a check on the
    # string would miss what the socket actually connects to.
    labels = bare.split(".")
    if all(label and (label.isdigit() or label.lower().startswith("0x")) for label in labels):
        raise Refused(f"{host} is an IP address written in an unusual form")
    return None


@dataclass
class SafeFetcher:
    resolver: Resolver = system_resolver
    # Only tests widen this (a fake server on 127.0.0.1); production allows public addresses.
    allow: Sequence[IPNetwork] = field(default_factory=tuple)
    max_bytes: int = MAX_BYTES
    timeout: float = TIMEOUT
    max_redirects: int = MAX_REDIRECTS

    def check(self, url: str) -> tuple[str, str, int, str]:
        """(scheme, host, port, the checked address to connect to), or `Refused`."""
        scheme, host, port, literal = self._parse(url)
        addresses = [str(literal)] if literal else list(self.resolver(host, port))
        if not addresses:
            raise Refused(f"the name {host} does not resolve")
        for text in addresses:
            address = ipaddress.ip_address(text.split("%")[0])
            if any(address in net for net in self.allow):
                continue
            reason = _why_not_public(address)
            if reason:
                raise Refused(f"{host} points to {address}, {reason}")
        return scheme, host, port, addresses[0]

    @staticmethod
    def _parse(url: str) -> tuple[str, str, int, IPAddress | None]:
        """The URL's parts, refused if its form is unsafe (before any DNS lookup)."""
        try:
            parts = urlsplit(url.strip())
            port = parts.port
        except ValueError as exc:
            raise Refused("the link is not a valid URL") from exc
        scheme = parts.scheme.lower()
        if scheme not in ("http", "https"):
            raise Refused(f"only http and https links can be fetched, not {scheme or 'this'}")
        host = (parts.hostname or "").lower()
        if not host:
            raise Refused("the link has no host name")
        if parts.username or parts.password:
            raise Refused("links with a user name or password are not fetched")
        return scheme, host, port or (443 if scheme == "https" else 80), _literal(host)

    def check_url(self, url: str) -> str:
        """Check only, to refuse a bad address when it is typed; the requests themselves go
        through `transport()`, which checks again and pins what it checked."""
        self.check(url)
        return url

    def transport(self) -> SafeTransport:
        """The httpx transport that applies this policy to every request of a client."""
        from core.ssrf_transport import SafeTransport

        return SafeTransport(self)

    def fetch(self, url: str) -> tuple[bytes, str, str]:
        """(body, content type, final URL). Raises `Refused` with the reason."""
        import httpx

        deadline = time.monotonic() + self.timeout
        with httpx.Client(transport=self.transport(), follow_redirects=False) as http:
            for _ in range(self.max_redirects + 1):
                self._parse(url)  # an odd form is refused in our words, not httpx's
                remaining = max(0.1, deadline - time.monotonic())
                try:
                    with http.stream("GET", url, timeout=remaining) as response:
                        if response.is_redirect:
                            url = urljoin(url, response.headers.get("location", ""))
                            continue
                        return self._read(response, deadline), self._type(response), url
                except httpx.InvalidURL as exc:
                    raise Refused("the link is not a valid URL") from exc
                except httpx.TimeoutException as exc:
                    raise Refused("the download took too long") from exc
                except httpx.HTTPError as exc:
                    raise Refused(f"could not download it ({type(exc).__name__})") from exc
        raise Refused(f"the link redirected more than {self.max_redirects} times")

    def _read(self, response: httpx.Response, deadline: float) -> bytes:
        if response.status_code != 200:
            raise Refused(f"the link answered HTTP {response.status_code}")
        declared = response.headers.get("content-length")
        if declared and declared.isdigit() and int(declared) > self.max_bytes:
            raise Refused(self._too_big())
        chunks: list[bytes] = []
        size = 0
        for chunk in response.iter_bytes():
            size += len(chunk)
            if size > self.max_bytes:
                raise Refused(self._too_big())
            if time.monotonic() > deadline:
                raise Refused("the download took too long")
            chunks.append(chunk)
        return b"".join(chunks)

    @staticmethod
    def _type(response: httpx.Response) -> str:
        return str(response.headers.get("content-type", "")).split(";")[0].strip()

    def _too_big(self) -> str:
        return f"the file is larger than {self.max_bytes // (1024 * 1024)} MB"
