"""Links for one person go only to that person: `connect` in a Telegram group.

The link that connects a network account is the key to this workspace's publishing: whoever
opens it connects *their* account. In a group it goes to the person who asked, in their
private chat with the bot, and the group only hears where it went; the link says it is theirs,
single-use and until when it works; a second use of it is refused with a clear page.
"""

from __future__ import annotations

import httpx
import pytest
from fastapi.testclient import TestClient
from pydantic import SecretStr
from sqlalchemy import func, select

from bot.web.app import create_app
from core.settings import Settings
from storage.models import ConnectedAccount
from storage.vault import new_key
from tests.fakes.telegram import Bot, FakeTelegram
from tests.fakes.x import FakeX
from tests.support.helpers import eventually

GROUP = -100600


@pytest.fixture
def settings(settings: Settings, fake_x: FakeX) -> Settings:
    """The conftest's settings, with X set up for OAuth and a key to seal tokens with."""
    return settings.model_copy(
        update={
            "public_url": "http://herald.test",
            "secret_key": SecretStr(new_key()),
            "x_api_url": fake_x.url,
            "x_auth_url": f"{fake_x.url}/i/oauth2/authorize",
            "x_client_id": "x-client",
        }
    )


def texts(fake: FakeTelegram, chat_id: int) -> list[str]:
    return [m["text"] for m in fake.sent(chat_id)]


def links_in(fake: FakeTelegram, chat_id: int) -> list[str]:
    return [t for t in texts(fake, chat_id) if "/oauth/" in t]


def test_connect_in_a_group_sends_the_link_only_to_the_person_who_asked(tg: Bot) -> None:
    team = tg.fake.group(GROUP, "Acme team")
    ana = tg.fake.member(team, 1111, "Ana", "ana")
    tg.fake.private(1111, "Ana", "ana")  # Ana has started the bot: it may write to her
    tg.send(ana.says("/start"))
    assert tg.send(ana.says("/connect x")) == 200
    (private,) = tg.fake.wait_for(
        lambda: links_in(tg.fake, 1111), what="the link in Ana's private chat"
    )
    group = texts(tg.fake, GROUP)
    assert links_in(tg.fake, GROUP) == []
    assert any("private" in t and "X" in t for t in group), group  # told where it went
    assert "only for you" in private
    assert "one use" in private
    assert "UTC" in private  # until when, as an instant


def test_a_person_the_bot_cannot_write_to_is_told_in_the_group_without_the_link(
    tg: Bot,
) -> None:
    team = tg.fake.group(GROUP, "Acme team")
    lee = tg.fake.member(team, 2222, "Lee", "lee")  # never opened a private chat with the bot
    tg.send(lee.says("/start"))
    assert tg.send(lee.says("/connect x")) == 200
    told = tg.fake.wait_for(
        lambda: [t for t in texts(tg.fake, GROUP) if "private chat" in t and "Start" in t],
        what="the group told how to get the link",
    )
    assert "connect x" in told[-1]
    assert links_in(tg.fake, GROUP) == []
    assert links_in(tg.fake, 2222) == []


def test_an_app_password_typed_in_a_group_is_refused_and_stored_nowhere(tg: Bot) -> None:
    team = tg.fake.group(GROUP, "Acme team")
    ana = tg.fake.member(team, 1111, "Ana", "ana")
    tg.send(ana.says("/start"))
    tg.send(ana.says("/connect bluesky acme.bsky.social abcd-efgh-ijkl-mnop"))
    refusal = tg.fake.wait_for(
        lambda: [t for t in texts(tg.fake, GROUP) if "app password" in t and "revoke" in t.lower()],
        what="the refusal",
    )
    assert "private chat" in refusal[-1]
    with tg.runtime.db.session() as s:
        assert s.scalar(select(func.count(ConnectedAccount.id))) == 0


def connect_link_in_private(tg: Bot) -> str:
    """Ana asks for an X link in her private chat; the path of the link she gets."""
    ana = tg.fake.private(1111, "Ana", "ana")
    tg.send(ana.says("/start"))
    tg.send(ana.says("/connect x"))
    # In a private chat the answer itself carries the link (a second, private copy may follow).
    text: str = tg.fake.wait_for(lambda: links_in(tg.fake, 1111), what="the link")[0]
    return text[text.index("/oauth/") :].split()[0]


def test_the_link_works_once_and_a_second_use_gets_a_clear_page(tg: Bot, fake_x: FakeX) -> None:
    path = connect_link_in_private(tg)
    with TestClient(create_app(tg.runtime)) as web:
        start = web.get(path, follow_redirects=False)
        assert start.status_code == 302, start.text
        auth = httpx.get(start.headers["location"], follow_redirects=False)
        callback = auth.headers["location"].removeprefix("http://herald.test")
        assert "Connected" in web.get(callback).text
        again = web.get(callback)
        assert again.status_code == 400
        assert "already used" in again.text
        assert "connect" in again.text  # what to do
        reopened = web.get(path, follow_redirects=False)
        assert reopened.status_code == 400
        assert "already used" in reopened.text
    eventually(
        lambda: any("✅ Connected X" in t for t in texts(tg.fake, 1111)), what="confirmation"
    )
    with tg.runtime.db.session() as s:
        assert s.scalar(select(func.count(ConnectedAccount.id))) == 1


def test_the_flow_belongs_to_the_browser_that_opened_the_link(tg: Bot, fake_x: FakeX) -> None:
    path = connect_link_in_private(tg)
    app = create_app(tg.runtime)
    with TestClient(app) as mine, TestClient(app) as other:
        start = mine.get(path, follow_redirects=False)
        assert start.status_code == 302, start.text
        # The same link in another browser (forwarded, leaked) starts nothing.
        stolen = other.get(path, follow_redirects=False)
        assert stolen.status_code == 400
        assert "another browser" in stolen.text
        assert "connect x" in stolen.text
        auth = httpx.get(start.headers["location"], follow_redirects=False)
        callback = auth.headers["location"].removeprefix("http://herald.test")
        # Ana's code and state, replayed from another browser: refused, and Ana's flow lives.
        hijack = other.get(callback)
        assert hijack.status_code == 400
        assert "another browser" in hijack.text
        with tg.runtime.db.session() as s:
            assert s.scalar(select(func.count(ConnectedAccount.id))) == 0
        assert "Connected" in mine.get(callback).text
    with tg.runtime.db.session() as s:
        assert s.scalar(select(func.count(ConnectedAccount.id))) == 1
