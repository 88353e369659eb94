"""A token asked for with Slack's slash command: answered to that person alone (ephemeral),
working on the API at once, and no copy of it left in the database once it is delivered."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from starlette.testclient import TestClient

from bot.runtime import Runtime
from bot.web.app import create_app
from core.settings import Settings
from tests.fakes.slack import MARIA, FakeSlack, slash
from tests.support.helpers import dump, eventually
from tests.surfaces.test_api import TOKEN, auth
from tests.surfaces.test_web_guard import serve


@pytest.fixture
def fake() -> Iterator[FakeSlack]:
    slack = FakeSlack()
    slack.add_user(MARIA, "maria")
    yield slack
    slack.close()


@pytest.fixture
def rt(settings: Settings, fake: FakeSlack) -> Iterator[Runtime]:
    runtime = serve(settings, fake)
    yield runtime
    runtime.close()


def test_the_slash_command_answers_the_token_privately_and_keeps_no_copy(
    rt: Runtime, fake: FakeSlack
) -> None:
    body, headers = slash("token new ci read,draft")
    with TestClient(create_app(rt)) as client:
        assert client.post("/slack/events", content=body, headers=headers).status_code == 200

        def shown() -> list[tuple[str, str, str]]:
            """Each call that carried a token (once, though its text and blocks both do)."""
            with fake.lock:
                calls = list(fake.calls)
            return [
                (c.method, str(c.body.get("user")), found[0])
                for c in calls
                if (found := sorted(set(TOKEN.findall(str(c.body)))))
            ]

        ((method, user, token),) = eventually(shown, what="the token, sent")
        assert (method, user) == ("chat.postEphemeral", MARIA)
        eventually(lambda: token not in dump(rt), what="no copy of the token kept")
        assert token[12:] not in dump(rt)
        assert client.get("/api/v1/posts", headers=auth(token)).status_code == 200
        assert client.post("/api/v1/posts/1/approve", headers=auth(token)).status_code == 403
