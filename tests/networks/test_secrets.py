"""Tokens at rest: sealed in every row, never in a dump or a log; KMS data keys; rotation."""

from __future__ import annotations

import logging
import os
import subprocess
import sys
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select

from bot.web.app import create_app
from core.errors import TokenExpired
from core.platforms.base import credentials_context
from core.ports import PublishRequest
from storage.db import Database
from storage.models import ConnectedAccount
from storage.models_slack import BotInstall, SlackInstallation, SlackRepository
from storage.rotate import rotate
from storage.schema import metadata
from storage.vault import Vault, VaultError, decode_key, kms_data_key, new_key, sealed_context
from tests.fakes.bluesky import FakeBluesky
from tests.fakes.x import FakeX
from tests.support.helpers import actor, dump
from tests.support.platforms import add_account, make_request, run_oauth_flow, runtime_with
from tests.support.services import free_port

HERALD = str(Path(sys.executable).with_name("herald"))

MARIA = actor("maria")


@pytest.fixture
def fakes() -> Iterator[tuple[FakeX, FakeBluesky]]:
    x, bsky = FakeX().start(), FakeBluesky().start()
    yield x, bsky
    x.stop()
    bsky.stop()


def test_no_token_in_the_database_or_the_logs(settings, fakes, caplog) -> None:
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
            run_oauth_flow(rt, web, "connect x")
        reply = rt.herald.handle(MARIA, f"connect bluesky {bsky.handle} {bsky.password} {bsky.url}")
        assert not reply.error, reply.text
        rt.herald.ctx.publishers["x"].publish(make_request(rt, "x", "Secret-free post"))
        rt.herald.ctx.publishers["bluesky"].publish(make_request(rt, "bluesky", "Secret-free"))
        assert rt.settings.secret_key is not None
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


def test_keys_rotate_reseals_every_secret_online(settings, fakes) -> None:
    _, bsky = fakes
    rt = runtime_with(settings, worker=False)
    try:
        rt.herald.handle(MARIA, f"connect bluesky {bsky.handle} {bsky.password} {bsky.url}")
        old = rt.vault
        assert old is not None
        fresh = new_key()
        newer = Vault([decode_key(fresh), old.current])
        changed = rotate(rt.db, newer)
        assert changed >= 1
        only_new = Vault([decode_key(fresh)])
        with rt.db.session() as s:
            row = s.scalars(select(ConnectedAccount)).one()
            assert newer.is_current(row.credentials)
            assert b"did:plc:abc123" in only_new.open(row.credentials, credentials_context(row))
        assert rotate(rt.db, newer) == 0  # nothing left to re-seal
    finally:
        rt.close()


def test_kms_data_key_through_moto_server(tmp_path, monkeypatch) -> None:
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

        # Hosts that share no disk (Fargate tasks) share one wrapped key from the settings,
        # made by `herald keys kms-new`, which prints the wrapped form only.
        env = {
            **{k: v for k, v in os.environ.items() if not k.startswith("HERALD_")},
            "HERALD_KMS_KEY_ID": key_id,
            "AWS_ENDPOINT_URL_KMS": f"http://127.0.0.1:{port}",
        }
        made = subprocess.run(
            [HERALD, "keys", "kms-new"], env=env, capture_output=True, text=True, check=False
        )
        assert made.returncode == 0, made.stderr
        wrapped_b64 = made.stdout.strip()
        one = kms_data_key(key_id, tmp_path / "a" / "k.bin", wrapped=wrapped_b64, client=kms)
        other = kms_data_key(key_id, tmp_path / "b" / "k.bin", wrapped=wrapped_b64, client=kms)
        assert one == other and len(one) == 32
        assert not (tmp_path / "a").exists()  # nothing written: the settings hold the key
        with pytest.raises(VaultError, match="herald keys kms-new"):
            kms_data_key(key_id, wrapped, wrapped="not base64!", client=kms)
        no_key = subprocess.run(
            [HERALD, "keys", "kms-new"],
            env={k: v for k, v in env.items() if k != "HERALD_KMS_KEY_ID"},
            capture_output=True,
            text=True,
            check=False,
        )
        assert no_key.returncode != 0
        assert "Set HERALD_KMS_KEY_ID" in no_key.stderr
    finally:
        server.stop()


LEE_ELSEWHERE = actor("lee", workspace="elsewhere")
_NOW = datetime(2026, 12, 1, 15, 0, tzinfo=UTC)


def test_credentials_copied_into_another_workspaces_row_do_not_open(settings, fakes) -> None:
    _, bsky = fakes
    rt = runtime_with(settings, worker=False)
    try:
        reply = rt.herald.handle(MARIA, f"connect bluesky {bsky.handle} {bsky.password} {bsky.url}")
        assert not reply.error, reply.text
        theirs = add_account(
            rt, "bluesky", "did:plc:lee", "@lee", {"pds": bsky.url}, who=LEE_ELSEWHERE
        )
        with rt.db.session() as s:
            acme = s.scalars(
                select(ConnectedAccount).where(ConnectedAccount.account_id == bsky.did)
            ).one()
            copy = s.get(ConnectedAccount, theirs)
            assert copy is not None
            copy.credentials = acme.credentials  # an attacker's copy
        request = PublishRequest(
            target_id=1,
            network="bluesky",
            text="Posted with someone else's token",
            idempotency_key="herald-2-1-1",
            workspace="Elsewhere",
            post_number=1,
            workspace_id=rt.herald.workspace_of(LEE_ELSEWHERE),
        )
        with pytest.raises(TokenExpired, match="reconnect"):
            rt.herald.ctx.publishers["bluesky"].publish(request)
        assert bsky.records == {}  # nothing posted with Acme's session
        # Acme's own row still opens and posts.
        rt.herald.ctx.publishers["bluesky"].publish(make_request(rt, "bluesky", "Ours"))
        assert len(bsky.records) == 1
    finally:
        rt.close()


def test_a_slack_token_copied_to_another_team_does_not_open(settings) -> None:
    rt = runtime_with(settings, worker=False)
    try:
        repo = SlackRepository(rt.db, rt.vault)
        for team in ("T0ACME001", "T0EVIL001"):
            repo.save_install(
                BotInstall(
                    team, team, None, None, "B1", "U1", "chat:write", None, f"xoxb-{team}", _NOW
                )
            )
        with rt.db.session() as s:
            rows = {r.team_id: r for r in s.scalars(select(SlackInstallation))}
            rows["T0EVIL001"].bot_token = rows["T0ACME001"].bot_token
        assert repo.find_install("T0EVIL001") is None  # as if not installed: install again
        acme = repo.find_install("T0ACME001")
        assert acme is not None and acme.bot_token == "xoxb-T0ACME001"
    finally:
        rt.close()


def test_the_upgrade_reseals_existing_secrets_to_their_rows(tmp_path) -> None:
    db = Database(f"sqlite:///{tmp_path / 'old.sqlite3'}")
    from alembic import command

    command.upgrade(db.alembic_config(), "0004")  # before row binding
    vault = Vault([decode_key(new_key())])
    legacy = sealed_context("slack_installations", "bot_token")  # table and column only
    with db.engine.begin() as conn:
        for team in ("T0ACME001", "T0EVIL001"):
            conn.execute(
                metadata.tables[SlackInstallation.__tablename__]
                .insert()
                .values(
                    team_id=team,
                    bot_id="B1",
                    bot_user_id="U1",
                    bot_scopes="",
                    bot_token=vault.seal_text(f"xoxb-{team}", legacy),
                    installed_at=_NOW,
                )
            )
    with pytest.raises(RuntimeError, match="HERALD_SECRET_KEY"):
        db.upgrade()  # sealed values exist: the key is needed, nothing changes without it
    assert db.current_revision() == "0004"
    db.upgrade(vault)
    assert db.current_revision() == db.head_revision()
    repo = SlackRepository(db, vault)
    acme = repo.find_install("T0ACME001")
    assert acme is not None and acme.bot_token == "xoxb-T0ACME001"
    with db.session() as s:
        rows = {r.team_id: r for r in s.scalars(select(SlackInstallation))}
        assert (
            vault.open_text(
                rows["T0EVIL001"].bot_token,
                sealed_context("slack_installations", "bot_token", "T0EVIL001"),
            )
            == "xoxb-T0EVIL001"
        )
        rows["T0EVIL001"].bot_token = rows["T0ACME001"].bot_token
    assert repo.find_install("T0EVIL001") is None
    db.dispose()
