"""/metrics of herald web with HERALD_METRICS_TOKEN: only a scrape with that bearer token
reads it; without the header or with another token it is a 401 that names no token, never a
500. Without the setting it is open, as on a laptop."""

from __future__ import annotations

import logging
from collections.abc import Iterator

import httpx
import pytest
from fastapi.testclient import TestClient
from pydantic import SecretStr

from bot.metrics import NO_BEARER, WRONG_BEARER, Exported, open_to_others, refusal, serve
from bot.runtime import Runtime, build_runtime
from bot.web.app import create_app
from core.settings import Settings
from tests.support.scrape import parse

TOKEN = "m3trics-t0ken-for-the-test-4f1c9a"


@pytest.fixture
def guarded(settings: Settings) -> Iterator[Runtime]:
    rt = build_runtime(settings.model_copy(update={"metrics_token": SecretStr(TOKEN)}))
    yield rt
    rt.close()


def _is_prometheus_text(text: str) -> None:
    scrape = parse(text)
    assert "herald_commands" in scrape.names or "herald_commands_total" in scrape.names


def test_with_the_token_set_only_its_bearer_reads_the_metrics(
    guarded: Runtime, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    with TestClient(create_app(guarded), raise_server_exceptions=False) as web:
        bare = web.get("/metrics")
        assert bare.status_code == 401
        assert bare.headers["www-authenticate"] == "Bearer"
        assert bare.headers["content-type"].startswith("text/plain")
        assert bare.text == NO_BEARER and bare.text.count("\n") == 1
        assert "herald_" not in bare.text

        for header in (
            f"Bearer {TOKEN}x",
            f"Bearer {TOKEN[:-1]}",
            "Bearer wrong",
            f"Bearer  {TOKEN[1:]}",
        ):
            wrong = web.get("/metrics", headers={"Authorization": header})
            assert wrong.status_code == 401, header
            assert wrong.text == WRONG_BEARER
            assert wrong.headers["www-authenticate"] == "Bearer"

        for header in (f"Basic {TOKEN}", TOKEN, "Bearer", "Bearer   ", "bearer\u00e9"):
            odd = web.get("/metrics", headers={"Authorization": header.encode("latin-1")})
            assert odd.status_code == 401, header

        right = web.get("/metrics", headers={"Authorization": f"Bearer {TOKEN}"})
        assert right.status_code == 200
        assert right.headers["content-type"].startswith("text/plain; version=0.0.4")
        _is_prometheus_text(right.text)
        # The scheme is case-insensitive (RFC 7235), as some scrapers send it.
        lower = web.get("/metrics", headers={"Authorization": f"bearer {TOKEN}"})
        assert lower.status_code == 200

        assert web.get("/healthz").status_code == 200  # only /metrics is guarded
    assert TOKEN not in caplog.text
    assert TOKEN[:12] not in caplog.text


def test_without_the_token_the_metrics_stay_open(settings: Settings) -> None:
    assert settings.metrics_token is None
    rt = build_runtime(settings)
    try:
        with TestClient(create_app(rt)) as web:
            answer = web.get("/metrics")
            assert answer.status_code == 200
            _is_prometheus_text(answer.text)
            # A header sent anyway changes nothing.
            assert web.get("/metrics", headers={"Authorization": "Bearer x"}).status_code == 200
    finally:
        rt.close()


def test_a_blank_token_is_unset_and_spaces_around_one_are_not_part_of_it(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("HERALD_METRICS_TOKEN", "  ")  # `HERALD_METRICS_TOKEN=` in a file
    assert Settings(_env_file=None).metrics_token is None  # type: ignore[call-arg]
    monkeypatch.setenv("HERALD_METRICS_TOKEN", f" {TOKEN}\n")
    padded = Settings(_env_file=None)  # type: ignore[call-arg]
    assert padded.metrics_token is not None
    assert padded.metrics_token.get_secret_value() == TOKEN
    assert TOKEN not in repr(padded) and TOKEN not in str(padded.model_dump())


def test_the_refusal_reads_the_header_alone() -> None:
    token = SecretStr(TOKEN)
    assert refusal(None, None) is None
    assert refusal(None, "Bearer anything") is None
    assert refusal(token, None) == NO_BEARER
    assert refusal(token, "") == NO_BEARER
    assert refusal(token, f"Token {TOKEN}") == NO_BEARER
    assert refusal(token, "Bearer nope") == WRONG_BEARER
    assert refusal(token, f"Bearer {TOKEN}") is None
    assert refusal(token, f"  BEARER {TOKEN} ") is None


@pytest.mark.parametrize("token", [SecretStr(TOKEN), None], ids=["token", "open"])
def test_a_worker_and_the_scheduler_ask_for_the_same_token(token: SecretStr | None) -> None:
    """Their own small port (bot/cli.py's _serve_metrics) checks the token just the same."""
    server = serve(Exported(), "127.0.0.1", 0, token)
    url = f"http://127.0.0.1:{server.server_port}/metrics"
    try:
        right = httpx.get(url, headers={"Authorization": f"Bearer {TOKEN}"})
        assert right.status_code == 200
        _is_prometheus_text(right.text)
        bare = httpx.get(url)
        wrong = httpx.get(url, headers={"Authorization": "Bearer nope"})
        if token is None:
            assert bare.status_code == wrong.status_code == 200
        else:
            assert bare.status_code == 401 and bare.text == NO_BEARER
            assert wrong.status_code == 401 and wrong.text == WRONG_BEARER
            assert wrong.headers["www-authenticate"] == "Bearer"
    finally:
        server.shutdown()
        server.server_close()


def test_web_on_an_outside_address_without_a_token_is_warned_about() -> None:
    for host in ("127.0.0.1", "::1", "localhost", "127.0.0.2"):
        assert open_to_others(host, None) is None, host
    for host in ("0.0.0.0", "::", "10.0.3.7", "herald.internal"):  # noqa: S104 - the case
        said = open_to_others(host, None)
        assert said is not None and "HERALD_METRICS_TOKEN is unset" in said, host
        assert open_to_others(host, SecretStr(TOKEN)) is None
