"""Tokens at rest: sealed in every row, never in a dump or a log; KMS data keys; rotation."""

from __future__ import annotations

import logging
from collections.abc import Iterator

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select

from bot.web.app import create_app
from core.platforms.base import CREDENTIALS
from storage.models import ConnectedAccount
from storage.rotate import rotate
from storage.schema import metadata
from storage.vault import Vault, decode_key, kms_data_key, new_key
from tests.conftest import actor, free_port
from tests.fakes_platforms import FakeBluesky, FakeX, make_request, runtime_with
from tests.test_platform_oauth import run_flow

MARIA = actor("maria")


@pytest.fixture
def fakes() -> Iterator[tuple[FakeX, FakeBluesky]]:
    x, bsky = FakeX().start(), FakeBluesky().start()
    yield x, bsky  # type: ignore[misc]
    x.stop()
    bsky.stop()


def dump(rt) -> str:  # type: ignore[no-untyped-def]
    """Every column of every table, as text (bytes both raw-decoded and as hex)."""
    out = []
    with rt.db.engine.connect() as conn:
        for table in metadata.sorted_tables:
            for row in conn.execute(select(table)):
                for value in row:
                    if isinstance(value, bytes):
                        out.append(value.decode("latin-1"))
                    else:
                        out.append(repr(value))
    return "\n".join(out)


def test_no_token_in_the_database_or_the_logs(settings, fakes, caplog) -> None:  # type: ignore[no-untyped-def]
    caplog.set_level(logging.DEBUG)
    fake_x, bsky = fakes
    rt = runtime_with(
        settings,
        worker=False,
        x_api_url=fake_x.url,
        x_upload_url=fake_x.url,
        x_auth_url=f"{fake_x.url}/i/oauth2/authorize",
        x_client_id="x-client",
        x_client_secret="x-client-secret",
    )
    try:
        with TestClient(create_app(rt)) as web:
            run_flow(rt, web, "connect x")
        reply = rt.herald.handle(MARIA, f"connect bluesky {bsky.handle} {bsky.password} {bsky.url}")
        assert not reply.error, reply.text
        rt.herald.ctx.publishers["x"].publish(make_request(rt, "x", "Secret-free post"))
        rt.herald.ctx.publishers["bluesky"].publish(make_request(rt, "bluesky", "Secret-free"))
        secrets = [
            *fake_x.access_tokens,
            *fake_x.refresh_tokens,
            *bsky.access,
            *bsky.refresh,
            bsky.password,
            "x-client-secret",
            rt.settings.secret_key.get_secret_value(),
        ]
        text = dump(rt)
        assert "@acme" in text  # the dump does see the accounts
        leaked = [s for s in secrets if s in text]
        assert leaked == []
        ours = "\n".join(
            r.getMessage() for r in caplog.records if not r.name.startswith("werkzeug")
        )
        assert [s for s in secrets if s in ours] == []
        with rt.db.session() as s:
            rows = s.scalars(select(ConnectedAccount)).all()
            assert len(rows) == 2
            for row in rows:
                assert row.credentials.startswith(b"hv1")
    finally:
        rt.close()


def test_keys_rotate_reseals_every_secret_online(settings, fakes) -> None:  # type: ignore[no-untyped-def]
    _, bsky = fakes
    rt = runtime_with(settings, worker=False)
    try:
        rt.herald.handle(MARIA, f"connect bluesky {bsky.handle} {bsky.password} {bsky.url}")
        old = rt.vault
        fresh = new_key()
        newer = Vault([decode_key(fresh), old.current])
        changed = rotate(rt.db, newer)
        assert changed >= 1
        only_new = Vault([decode_key(fresh)])
        with rt.db.session() as s:
            row = s.scalars(select(ConnectedAccount)).one()
            assert newer.is_current(row.credentials)
            assert b"did:plc:abc123" in only_new.open(row.credentials, CREDENTIALS)
        assert rotate(rt.db, newer) == 0  # nothing left to re-seal
    finally:
        rt.close()


def test_kms_data_key_through_moto_server(tmp_path, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    import boto3
    from moto.server import ThreadedMotoServer

    for name, value in (
        ("AWS_ACCESS_KEY_ID", "testing"),
        ("AWS_SECRET_ACCESS_KEY", "testing"),
        ("AWS_DEFAULT_REGION", "us-east-1"),
    ):
        monkeypatch.setenv(name, value)
    port = free_port()
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=port, verbose=False)
    server.start()
    try:
        kms = boto3.client("kms", endpoint_url=f"http://127.0.0.1:{port}")
        key_id = kms.create_key()["KeyMetadata"]["KeyId"]
        wrapped = tmp_path / "kms-data-key.bin"
        first = kms_data_key(key_id, wrapped, client=kms)
        assert len(first) == 32
        assert first not in wrapped.read_bytes()  # only the KMS-encrypted form is on disk
        assert kms_data_key(key_id, wrapped, client=kms) == first  # the same key every start
        vault = Vault([first])
        assert vault.open(vault.seal(b"token", "t.c"), "t.c") == b"token"
    finally:
        server.stop()
