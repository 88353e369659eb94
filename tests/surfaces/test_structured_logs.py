"""Structured logs: a JSON line per record with the ids it is about, the ref a person was shown
beside its traceback, and no secret or personal data at DEBUG, in the log or in Sentry."""

from __future__ import annotations

import json
import logging
import re
from pathlib import Path

import pytest
import sentry_sdk
from pydantic import SecretStr

from bot.runtime import Runtime, configure_logging
from core.logcontext import bound
from core.service import Herald
from core.settings import Settings
from tests.fakes.sentry import FakeSentry
from tests.support.helpers import actor, eventually

SECRET = "sk-live-0123456789abcdefghij"
EMAIL = "maria.rossi@example.org"


def lines(path: Path) -> list[dict[str, object]]:
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]


def json_settings(runtime: Runtime, **more: object) -> Settings:
    return runtime.settings.model_copy(
        update={
            "log_level": "DEBUG",
            "log_format": "json",
            "llm_api_key": SecretStr(SECRET),
            **more,
        }
    )


def fail_commands(monkeypatch: pytest.MonkeyPatch) -> None:
    """A bug deep in a command: the exception text carries a secret and an address."""

    def broken(self: Herald, *args: object) -> object:
        raise RuntimeError(f"lost the model: Authorization: Bearer {SECRET} for {EMAIL}")

    monkeypatch.setattr(Herald, "execute", broken)


def test_a_ref_shown_in_chat_is_in_the_json_log_beside_its_traceback(
    runtime: Runtime,
    tmp_path: Path,
    logs: list[logging.LogRecord],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    log_file = tmp_path / "herald.json"
    configure_logging(json_settings(runtime), to_file=log_file)
    fail_commands(monkeypatch)

    answer = runtime.herald.handle(actor("maria", workspace="acme"), "queue")

    shown = re.search(r"ref ([0-9a-f]{6})", answer.text or "")
    assert shown is not None, answer.text
    ref = shown.group(1)
    found = [line for line in log_file.read_text().splitlines() if f"ref={ref}" in line]
    assert len(found) == 1  # `grep ref=<ref> herald.json` finds exactly the one line
    event = json.loads(found[0])
    assert event["ref"] == ref
    assert event["level"] == "error"
    assert event["workspace"] == "acme"
    assert event["logger"] == "core.service"
    assert "Traceback (most recent call last)" in str(event["exception"])
    assert "RuntimeError: lost the model" in str(event["exception"])
    assert str(event["timestamp"]).endswith("Z")
    text = log_file.read_text()
    assert SECRET not in text and EMAIL not in text
    assert "Bearer <redacted>" in text


def test_a_task_line_names_its_task_and_the_row_it_is_about(
    runtime: Runtime, tmp_path: Path, logs: list[logging.LogRecord]
) -> None:
    log_file = tmp_path / "herald.json"
    configure_logging(json_settings(runtime), to_file=log_file)

    runtime.herald.handle(actor(), 'draft Launch day --to outbox --at "in 1 minute"')

    def generated() -> list[dict[str, object]]:
        return [
            e
            for e in lines(log_file)
            if str(e.get("event", "")).endswith(" started") and e.get("post")
        ]

    event = eventually(generated, what="a line logged inside the generate task")[0]
    assert event["task_id"] and event["task"] == str(event["event"]).split()[0]


def test_text_lines_are_readable_and_carry_the_bound_ids(
    settings: Settings, tmp_path: Path, logs: list[logging.LogRecord]
) -> None:
    log_file = tmp_path / "herald.log"
    configure_logging(
        settings.model_copy(update={"log_level": "DEBUG", "log_format": "text"}),
        to_file=log_file,
    )
    with bound(workspace="acme", post=12, target=31):
        logging.getLogger("core.publishing").info("published on %s", "x")
    line = log_file.read_text().strip()
    assert not line.startswith("{")
    assert "published on x" in line
    assert "workspace=acme" in line and "post=12" in line and "target=31" in line


def test_no_secret_or_address_leaves_at_debug_not_even_to_sentry(
    runtime: Runtime,
    tmp_path: Path,
    logs: list[logging.LogRecord],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    sentry = FakeSentry().start()
    log_file = tmp_path / "herald.json"
    try:
        configure_logging(
            json_settings(runtime, sentry_dsn=SecretStr(sentry.dsn)), to_file=log_file
        )
        fail_commands(monkeypatch)
        debug = logging.getLogger("herald.test")
        debug.debug("calling with %s", {"api_key": SECRET, "email": EMAIL, "n": 1})
        debug.debug("member %s joined", EMAIL)
        answer = runtime.herald.handle(actor(), "queue")
        shown = re.search(r"ref ([0-9a-f]{6})", answer.text or "")
        assert shown is not None, answer.text
        ref = shown.group(1)
        sentry_sdk.flush(timeout=5)

        event = eventually(
            lambda: sentry.events[-1] if sentry.events else None,
            timeout=10,
            what="the error in the fake Sentry",
        )
    finally:
        sentry_sdk.init(dsn=None)  # later tests send nothing
        sentry.stop()
    assert event["tags"]["ref"] == ref  # type: ignore[index]
    text = log_file.read_text()
    assert "calling with" in text and "member <redacted> joined" in text
    for leaked in (SECRET, EMAIL):
        assert leaked not in text
        assert not any(leaked.encode() in body for body in sentry.bodies)
