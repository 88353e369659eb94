"""Media: SSRF-safe fetching, attaching to drafts, fitting to each network, S3 through moto."""

from __future__ import annotations

import io
import ipaddress
import random
import struct
import threading
import time
import zlib
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import ClassVar

import pytest
from PIL import Image

from core.errors import BadInput
from core.media import sniff
from core.ssrf import Refused, SafeFetcher
from storage.media import LocalMediaStore, MediaMissing, S3MediaStore
from tests.support.helpers import actor, eventually, post_state
from tests.support.platforms import runtime_with, tiny_png

MARIA = actor("maria")
LOOPBACK = (ipaddress.ip_network("127.0.0.0/8"),)


def png_bomb(width: int, height: int, rows: int) -> bytes:
    """A black 1-bit PNG declaring width by height, with the first `rows` rows of pixel data
    (all of them: a real bomb, kilobytes that decode to hundreds of megabytes)."""

    def chunk(kind: bytes, body: bytes) -> bytes:
        crc = zlib.crc32(kind + body)
        return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", crc)

    header = struct.pack(">IIBBBBB", width, height, 1, 0, 0, 0, 0)
    pixels = zlib.compress(b"\0" * ((width + 7) // 8 + 1) * rows, 9)
    return (
        b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", pixels) + chunk(b"IEND", b"")
    )


def gif_bomb(width: int, height: int) -> bytes:
    """A GIF whose screen and only frame declare width by height, with one pixel of data."""
    screen = b"GIF89a" + struct.pack("<HHBBB", width, height, 0, 0, 0)
    frame = b"," + struct.pack("<HHHHB", 0, 0, width, height, 0)
    return screen + frame + b"\x02\x02\x4c\x01\x00;"


BOMBS = {
    "png 9000x9000": (png_bomb(9000, 9000, 9000), "9,000×9,000 pixels"),
    "png 30000x30000": (png_bomb(30000, 30000, 10), "900 megapixels"),
    "gif 65535x65535": (gif_bomb(65535, 65535), "4,295 megapixels"),
    "gif 8000x8000": (gif_bomb(8000, 8000), "8,000×8,000 pixels"),
}


@pytest.mark.timeout(30)
@pytest.mark.parametrize(("data", "size"), BOMBS.values(), ids=BOMBS.keys())
def test_an_image_over_the_pixel_budget_is_refused_from_its_header(data: bytes, size: str) -> None:
    assert len(data) < 1_100_000
    started = time.monotonic()
    with pytest.raises(BadInput) as refused:
        sniff(data)
    assert time.monotonic() - started < 1
    assert str(refused.value) == (
        f"That image is {size}; I take images of up to 50 megapixels. "
        "Send a smaller one (e.g. 8,000×6,000)."
    )


class _Files(BaseHTTPRequestHandler):
    routes: ClassVar[dict[str, tuple[int, dict[str, str], bytes]]] = {}
    hosts: ClassVar[list[str]] = []

    def do_GET(self) -> None:
        self.hosts.append(self.headers.get("Host", ""))
        status, headers, body = self.routes.get(self.path, (404, {}, b""))
        if self.path == "/slow":
            time.sleep(2)
        self.send_response(status)
        for key, value in headers.items():
            self.send_header(key, value)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture(scope="module")
def files() -> Iterator[str]:
    # Noise does not compress: a 3000×1000 PNG of it is about 9 MB, over Bluesky's 2 MB.
    big = Image.frombytes("RGB", (3000, 1000), random.Random(7).randbytes(9_000_000))  # noqa: S311 - test data
    buffer = io.BytesIO()
    big.save(buffer, "PNG")
    _Files.routes = {
        "/cat.png": (200, {"Content-Type": "image/png"}, tiny_png()),
        "/bomb.png": (200, {"Content-Type": "image/png"}, png_bomb(9000, 9000, 9000)),
        "/big.png": (200, {"Content-Type": "image/png"}, buffer.getvalue()),
        "/huge": (200, {}, b"\0" * 3000),
        "/to-metadata": (302, {"Location": "http://169.254.169.254/latest/meta-data/"}, b""),
        "/to-private": (301, {"Location": "http://10.1.2.3/x.png"}, b""),
        "/to-cat": (302, {"Location": "/cat.png"}, b""),
        "/slow": (200, {}, b"late"),
        "/text": (200, {"Content-Type": "text/html"}, b"<html>hi</html>"),
    }
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Files)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{server.server_port}"
    server.shutdown()


def resolver(table: dict[str, list[str]]):
    def resolve(host: str, port: int) -> list[str]:
        if host not in table:
            raise Refused(f"the name {host} does not resolve")
        return table[host]

    return resolve


DNS = {
    "internal.example": ["10.0.0.7"],
    "mixed.example": ["93.184.216.34", "192.168.1.1"],
    "v6loop.example": ["::1"],
    "mapped.example": ["::ffff:127.0.0.1"],
    "metadata.example": ["169.254.169.254"],
    "linklocal6.example": ["fe80::1"],
    "ula.example": ["fd12:3456::1"],
    "cgnat.example": ["100.64.1.1"],
    "zero.example": ["0.0.0.0"],  # noqa: S104 - a hostile DNS answer, not a bind
}

HOSTILE = [
    ("file:///etc/passwd", "only http and https"),
    ("gopher://example.com/", "only http and https"),
    ("ftp://example.com/a.png", "only http and https"),
    ("http://127.0.0.1/", "loopback"),
    ("http://localhost.:80/", "does not resolve"),
    ("http://[::1]/", "loopback"),
    ("http://[::ffff:127.0.0.1]/", "IPv6 wrapper of 127.0.0.1"),
    ("http://[::ffff:a9fe:a9fe]/", "metadata"),
    ("http://169.254.169.254/latest/meta-data/", "metadata"),
    ("http://[fd00:ec2::254]/", "metadata"),
    ("http://10.0.0.1/", "private"),
    ("http://172.16.5.4/", "private"),
    ("http://192.168.0.1/", "private"),
    ("http://0.0.0.0/", "unspecified|private"),
    ("http://2130706433/", "unusual form"),
    ("http://0x7f000001/", "unusual form"),
    ("http://0177.0.0.1/", "unusual form"),
    ("http://127.1/", "unusual form"),
    ("http://internal.example/a.png", "private"),
    ("http://mixed.example/a.png", "192.168.1.1"),
    ("http://v6loop.example/", "loopback"),
    ("http://mapped.example/", "IPv6 wrapper"),
    ("http://metadata.example/", "metadata"),
    ("http://linklocal6.example/", "link-local"),
    ("http://ula.example/", "private"),
    ("http://cgnat.example/", "carrier-grade NAT|private|not a public"),
    ("http://zero.example/", "unspecified|private"),
    ("http://user:pass@example.com/", "user name or password"),
    ("http:///nohost", "no host"),
    ("http://[2002:7f00:1::]/", "wrapper"),  # 6to4 of 127.0.0.1
]


@pytest.mark.parametrize(("url", "reason"), HOSTILE)
def test_hostile_urls_are_refused_with_a_reason(url: str, reason: str) -> None:
    fetcher = SafeFetcher(resolver=resolver(DNS))
    with pytest.raises(Refused, match=reason):
        fetcher.fetch(url)


def test_redirects_to_private_or_metadata_are_refused(files: str) -> None:
    fetcher = SafeFetcher(allow=LOOPBACK)
    with pytest.raises(Refused, match="metadata"):
        fetcher.fetch(f"{files}/to-metadata")
    with pytest.raises(Refused, match="private"):
        fetcher.fetch(f"{files}/to-private")
    data, _ctype, final = fetcher.fetch(f"{files}/to-cat")
    assert data == tiny_png()
    assert final.endswith("/cat.png")


def test_connection_is_pinned_to_the_checked_address(files: str) -> None:
    port = files.rsplit(":", 1)[1]
    calls: list[str] = []

    def once(host: str, port_: int) -> list[str]:
        calls.append(host)
        return ["127.0.0.1"]

    fetcher = SafeFetcher(resolver=once, allow=LOOPBACK)
    data, _, _ = fetcher.fetch(f"http://media.example:{port}/cat.png")
    assert data == tiny_png()
    assert calls == ["media.example"]  # resolved once: the socket went to that answer
    assert _Files.hosts[-1] == f"media.example:{port}"


def test_size_and_time_caps(files: str) -> None:
    with pytest.raises(Refused, match="larger than"):
        SafeFetcher(allow=LOOPBACK, max_bytes=1024).fetch(f"{files}/huge")
    with pytest.raises(Refused, match="too long"):
        SafeFetcher(allow=LOOPBACK, timeout=0.5).fetch(f"{files}/slow")


@pytest.fixture
def rt(settings):
    runtime = runtime_with(settings, worker=True)
    yield runtime
    runtime.close()


def test_attach_from_url_fits_each_network_and_the_card_says_so(rt, files) -> None:
    from tests.support.platforms import add_account

    add_account(rt, "bluesky", "did:plc:x", "@a", {"pds": "http://127.0.0.1:1", "did": "d"})
    reply = rt.herald.handle(MARIA, "draft Launch --to outbox,bluesky")
    assert not reply.error, reply.text
    eventually(lambda: post_state(rt, 1) == "pending_approval", what="the card")
    reply = rt.herald.handle(MARIA, f"attach 1 {files}/big.png A chart of our growth")
    assert not reply.error, reply.text
    assert "📎 Attached image (3000×1000" in (reply.text or "")
    assert "resized for Bluesky" in (reply.text or "")
    assert reply.card is not None
    bluesky = next(v for v in reply.card.variants if v.network == "bluesky")
    assert any("resized for Bluesky" in w for w in bluesky.warnings)
    from sqlalchemy import select

    from storage.models import Target

    with rt.db.session() as s:
        media = {t.network: t.media for t in s.scalars(select(Target))}
    assert media["outbox"][0]["content_type"] == "image/png"
    fitted = media["bluesky"][0]
    assert fitted["size"] <= 2_000_000
    assert fitted["alt"] == "A chart of our growth"
    stored = rt.settings.media_dir / fitted["key"]
    assert stored.exists()


def test_attach_refuses_unsafe_or_non_image_links(rt, files) -> None:
    rt.herald.handle(MARIA, "draft Launch --to outbox")
    eventually(lambda: post_state(rt, 1) == "pending_approval", what="the card")
    reply = rt.herald.handle(MARIA, "attach 1 http://169.254.169.254/latest/meta-data/")
    assert reply.error
    assert "metadata" in (reply.text or "")
    reply = rt.herald.handle(MARIA, f"attach 1 {files}/text")
    assert reply.error
    assert "not an image" in (reply.text or "")


@pytest.mark.timeout(60)
def test_attaching_an_image_bomb_is_refused_fast_and_attaches_nothing(rt, files) -> None:
    rt.herald.handle(MARIA, "draft Launch --to outbox")
    eventually(lambda: post_state(rt, 1) == "pending_approval", what="the card")
    started = time.monotonic()
    reply = rt.herald.handle(MARIA, f"attach 1 {files}/bomb.png")
    assert time.monotonic() - started < 1
    assert reply.error
    assert "That image is 9,000×9,000 pixels" in (reply.text or "")
    reply = rt.herald.handle(MARIA, f"attach 1 {files}/cat.png A cat")
    assert not reply.error, reply.text
    assert "📎 Attached image" in (reply.text or "")
    from sqlalchemy import select

    from storage.models import Post

    with rt.db.session() as s:
        media = s.scalars(select(Post.media)).one()
    assert [m["alt"] for m in media] == ["A cat"]


def test_local_store_round_trip(tmp_path) -> None:
    store = LocalMediaStore(tmp_path)
    store.put("1/a.png", b"abc", "image/png")
    assert store.get("1/a.png") == b"abc"
    store.delete("1/a.png")
    with pytest.raises(MediaMissing):
        store.get("1/a.png")
    with pytest.raises(ValueError, match="not a media key"):
        store.get("../etc/passwd")


def test_s3_store_through_moto_server(monkeypatch) -> None:
    from moto.server import ThreadedMotoServer

    from tests.support.services import free_port

    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    monkeypatch.setenv("AWS_DEFAULT_REGION", "us-east-1")
    port = free_port()
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=port, verbose=False)
    server.start()
    try:
        endpoint = f"http://127.0.0.1:{port}"
        store = S3MediaStore("herald-media", endpoint_url=endpoint)
        store.client.create_bucket(Bucket="herald-media")
        store.put("1/a.png", tiny_png(), "image/png")
        assert store.get("1/a.png") == tiny_png()
        head = store.client.head_object(Bucket="herald-media", Key="1/a.png")
        assert head["ContentType"] == "image/png"
        store.delete("1/a.png")
        with pytest.raises(MediaMissing):
            store.get("1/a.png")
        assert store.client.meta.config.retries["mode"] == "standard"
    finally:
        server.stop()
