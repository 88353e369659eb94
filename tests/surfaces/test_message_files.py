"""A chart and a CSV written with a message reach every surface with their exact bytes: Slack
through its external upload flow (in the card's thread for a post), Telegram as a photo and a
document, the terminal as files in the data folder with their paths printed. A rate limit
halfway through is retried without sending anything twice. Both databases; Slack and Telegram
through the real deliver job (a real Celery worker), or step by step where the test must
stop between steps."""

from __future__ import annotations

import stat
import time
from collections.abc import Callable, Iterator

import pytest
from pydantic import SecretStr
from sqlalchemy import func, select
from starlette.testclient import TestClient

from bot.runtime import Runtime, build_runtime
from bot.telegram import flood
from core.errors import RetryLater
from core.posts.card import Attachment, Message
from core.settings import Settings
from core.workspace.people import Actor
from storage.models import OutboundMessage, Post, SurfaceKind
from storage.models_files import MessageFile
from tests.fakes.slack import (
    GENERAL,
    MARIA,
    TEAM,
    FakeSlack,
    card_message,
    slack_settings,
    slash,
    texts,
)
from tests.fakes.telegram import TOKEN, Bot, Failure, FakeTelegram
from tests.support.files import CSV, CSV_TITLE, PNG_TITLE, chart, say_to, with_files
from tests.support.helpers import eventually
from tests.support.platforms import tiny_png
from tests.support.terminal import Transcript

PNG = chart().data
BOTH = [("herald-stats-7d.png", PNG_TITLE, PNG), ("herald-stats-7d.csv", CSV_TITLE, CSV)]


def files_left(rt: Runtime) -> int:
    with rt.db.session() as s:
        return int(s.scalar(select(func.count(MessageFile.id))) or 0)


def delivered(rt: Runtime, message_id: int) -> bool:
    with rt.db.session() as s:
        row = s.get(OutboundMessage, message_id)
        return row is not None and row.delivered_at is not None


def card_ref(rt: Runtime, number: int) -> str:
    """Where post `number`'s card is, once its delivery has said so (the surface shows the
    card a moment before the row knows)."""

    def ref() -> str | None:
        with rt.db.session() as s:
            return s.scalar(select(Post.card_ref).where(Post.number == number))

    found = eventually(ref, what=f"the card of #{number} remembered")
    assert found is not None
    return found


def until_done(deliver: Callable[[], None], tries: int = 8) -> int:
    """Run a delivery as the job's retries would, waiting what it asks; how many waits."""
    for waits in range(tries):
        try:
            deliver()
            return waits
        except RetryLater as wait:
            time.sleep(min(wait.seconds, 1.5) + 0.05)
    raise AssertionError("the delivery never finished")


# --- the terminal -------------------------------------------------------------------------


def test_the_terminal_writes_each_file_and_prints_its_path(idle_runtime: Runtime) -> None:
    rt = idle_runtime
    chat = Transcript(rt)  # the chat's workspace exists from here on
    folder = rt.settings.data_dir / "files"
    folder.mkdir(parents=True, mode=0o755)
    (folder / "herald-stats-7d.png").write_bytes(b"someone else's file")
    say_to(rt, SurfaceKind.TERMINAL, "local", with_files(), conversation="terminal")
    say_to(rt, SurfaceKind.TERMINAL, "local", with_files("Again"), conversation="terminal")
    chat.chat.drain()
    screen = chat.read()

    png1, csv1 = folder / "herald-stats-7d-2.png", folder / "herald-stats-7d.csv"
    png2, csv2 = folder / "herald-stats-7d-3.png", folder / "herald-stats-7d-2.csv"
    assert screen == (
        "📈 Last 7 days: 4,320 impressions\n"
        f"📎 {PNG_TITLE}: {png1}\n"
        f"📎 {CSV_TITLE}: {csv1}\n"
        "Again\n"
        f"📎 {PNG_TITLE}: {png2}\n"
        f"📎 {CSV_TITLE}: {csv2}\n"
    )
    for path, data in ((png1, PNG), (png2, PNG), (csv1, CSV), (csv2, CSV)):
        assert path.read_bytes() == data
        assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert (folder / "herald-stats-7d.png").read_bytes() == b"someone else's file"
    assert stat.S_IMODE(folder.stat().st_mode) == 0o700  # only its owner, whoever made it


# --- Slack --------------------------------------------------------------------------------


def test_slack_shares_the_files_in_the_cards_thread_in_the_channel_and_in_a_dm(
    slack_web: tuple[Runtime, TestClient], slack: FakeSlack
) -> None:
    rt, client = slack_web
    body, headers = slash("draft Our API is live --to outbox", user=MARIA, user_name="maria")
    assert client.post("/slack/events", content=body, headers=headers).status_code == 200
    channel, ts = card_message(slack, 1)
    assert card_ref(rt, 1) == f"{channel}:{ts}"

    text = "📈 24 h: 3,120 impressions · 41 likes <!channel>"
    first = say_to(rt, SurfaceKind.SLACK, TEAM, with_files(text), post=1)
    (share,) = eventually(lambda: slack.shared(GENERAL), what="the files in the card's thread")
    assert (share.channel, share.thread_ts) == (channel, ts)
    assert share.files == BOTH  # the exact bytes, each with its title, one message
    # The text introduces the files, shown as typed: it pings nobody.
    assert share.initial_comment == "📈 24 h: 3,120 impressions · 41 likes &lt;!channel&gt;"
    assert not [t for t in texts(slack, "chat.postMessage", thread_ts=ts) if "3,120" in t]
    announced = [c.body for c in slack.named("files.getUploadURLExternal")]
    assert [(a["filename"], int(a["length"])) for a in announced] == [
        ("herald-stats-7d.png", len(PNG)),
        ("herald-stats-7d.csv", len(CSV)),
    ]
    assert announced[0]["alt_txt"] == PNG_TITLE and "alt_txt" not in announced[1]
    assert all(c.token is None for c in slack.named("upload"))  # the URL is the credential
    eventually(lambda: delivered(rt, first), what="the message delivered")
    assert files_left(rt) == 0  # sent: the bytes are not kept

    # A message of the channel's, not about a post: the files with the text, not threaded.
    say_to(rt, SurfaceKind.SLACK, TEAM, with_files("Weekly digest"), conversation=GENERAL)
    plain = eventually(lambda: slack.shared(GENERAL)[1:], what="the channel's files")[0]
    assert (plain.thread_ts, plain.initial_comment, plain.files) == (None, "Weekly digest", BOTH)

    # Privately: Slack has no ephemeral files, so they go in a DM, and a note says where.
    say_to(rt, SurfaceKind.SLACK, TEAM, with_files(), conversation=GENERAL, recipient=MARIA)
    dm = eventually(lambda: [s for s in slack.shared() if s.channel.startswith("D")], what="DM")
    assert dm[0].files == BOTH and dm[0].initial_comment == "📈 Last 7 days: 4,320 impressions"
    note = eventually(
        lambda: [t for t in texts(slack, "chat.postEphemeral", user=MARIA) if "📎" in t],
        what="the note where the answer was asked for",
    )
    assert "I sent you 2 files in a direct message." in note[0]
    assert len(slack.shared()) == 3


@pytest.fixture
def slack_rt(settings: Settings, slack: FakeSlack) -> Iterator[Runtime]:
    """Slack with no worker: the test runs each delivery and its retries itself."""
    rt = build_runtime(slack_settings(settings, slack))
    yield rt
    rt.close()


def _slack_post(rt: Runtime, number: int, text: str) -> int:
    """Maria drafts post `number` in #general (drafted at once, its card not sent); its id."""
    maria = Actor(SurfaceKind.SLACK, TEAM, "Acme", MARIA, "maria", GENERAL)
    assert f"Drafting #{number}" in str(rt.herald.handle(maria, f"draft {text} --to outbox").text)
    with rt.db.session() as s:
        post_id = int(s.scalars(select(Post.id).where(Post.number == number)).one())
    rt.herald.generate(post_id)
    return post_id


def _card_posts(slack: FakeSlack, number: int) -> int:
    return sum(1 for t in texts(slack, "chat.postMessage") if f"#{number} · Draft" in t)


def test_a_slack_429_during_an_upload_shares_the_files_once(
    slack_rt: Runtime, slack: FakeSlack
) -> None:
    rt = slack_rt
    post_id = _slack_post(rt, 1, "Launch day")
    maria = Actor(SurfaceKind.SLACK, TEAM, "Acme", MARIA, "maria", GENERAL)
    card = rt.herald.handle(maria, "show 1").card
    # A new card with files: the card first, the files in its thread.
    message = say_to(
        rt, SurfaceKind.SLACK, TEAM, Message(text="Here it is", card=card, files=(chart(),)), post=1
    )
    slack.rate_limit("upload", retry_after=1)  # the upload host says wait, after the card
    with pytest.raises(RetryLater):
        rt.herald.deliver(message)
    with rt.db.session() as s:  # the card is remembered before the files are tried
        post = s.get(Post, post_id)
        assert post is not None and post.card_ref is not None
        channel, ts = post.card_ref.split(":")
    assert _card_posts(slack, 1) == 1
    slack.rate_limit("files.completeUploadExternal", retry_after=1)  # and then the API does
    assert until_done(lambda: rt.herald.deliver(message)) >= 1
    (share,) = slack.shared()
    assert (share.channel, share.thread_ts, share.files) == (channel, ts, BOTH[:1])
    assert share.initial_comment is None  # the text is on the card
    assert _card_posts(slack, 1) == 1  # never a second card
    assert delivered(rt, message) and files_left(rt) == 0
    rt.herald.deliver(message)  # the job delivered once more: nothing happens
    assert len(slack.shared()) == 1 and _card_posts(slack, 1) == 1


def test_without_files_write_slack_is_told_why_instead_of_the_files(
    slack_rt: Runtime, slack: FakeSlack
) -> None:
    rt = slack_rt
    rt.herald.workspace_of(Actor(SurfaceKind.SLACK, TEAM, "Acme", MARIA, "maria", GENERAL))
    slack.missing_scopes.add("files:write")  # installed before Herald asked for it
    message = say_to(rt, SurfaceKind.SLACK, TEAM, with_files("Weekly digest"), conversation=GENERAL)
    until_done(lambda: rt.herald.deliver(message))
    assert slack.shared() == []
    (said,) = texts(slack, "chat.postMessage", channel=GENERAL)
    assert "Weekly digest" in said
    assert (
        "I couldn't share herald-stats-7d.png, herald-stats-7d.csv here: Herald's Slack app "
        "lacks the files:write scope. Ask an admin to reinstall Herald (it asks for that scope "
        "now), then ask again."
    ) in said
    assert delivered(rt, message) and files_left(rt) == 0  # told once, not retried forever


# --- Telegram -----------------------------------------------------------------------------


def test_telegram_gets_a_photo_and_a_document_with_the_exact_bytes(tg: Bot) -> None:
    ana = tg.fake.private(1111, "Ana", "ana")
    assert tg.send(ana.says("/start")) == 200
    say_to(tg.runtime, SurfaceKind.TELEGRAM, "1111", with_files(), conversation="1111")
    photo, document = tg.fake.wait_for(
        lambda: len(tg.fake.files_in(1111)) == 2 and tg.fake.files_in(1111), what="the files"
    )
    assert (photo.kind, photo.data, photo.caption) == ("photo", PNG, PNG_TITLE)
    assert (document.kind, document.data, document.caption) == ("document", CSV, CSV_TITLE)
    assert (document.filename, document.mime_type) == ("herald-stats-7d.csv", "text/csv")
    (said,) = [m for m in tg.fake.sent(1111) if m["text"] == "📈 Last 7 days: 4,320 impressions"]
    assert said["message_id"] < photo.message_id < document.message_id  # the text comes first

    # About a post: the text and the files answer its card.
    assert tg.send(ana.says("/draft Our API is live --to outbox")) == 200
    card = tg.fake.wait_for(lambda: tg.fake.card(1111, 1), what="the card")
    assert card_ref(tg.runtime, 1) == f"1111:{card['message_id']}"
    say_to(tg.runtime, SurfaceKind.TELEGRAM, "1111", with_files("📈 24 h: 3,120"), post=1)
    replies = tg.fake.wait_for(
        lambda: len(tg.fake.files_in(1111)) == 4 and tg.fake.files_in(1111)[2:], what="replies"
    )
    assert [(r.kind, r.data, r.reply_to) for r in replies] == [
        ("photo", PNG, card["message_id"]),
        ("document", CSV, card["message_id"]),
    ]
    reply = tg.fake.wait_for(
        lambda: [m for m in tg.fake.sent(1111) if m["text"] == "📈 24 h: 3,120"], what="reply"
    )
    assert reply[0]["reply_to"] == card["message_id"]


@pytest.fixture
def tg_rt(
    settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> Iterator[tuple[Runtime, FakeTelegram]]:
    """Telegram with no worker: the test runs each delivery and its retries itself."""
    monkeypatch.setattr(flood, "PER_CHAT", (50, 1.0))
    fake = FakeTelegram().start()
    rt = build_runtime(
        settings.model_copy(
            update={"telegram_token": SecretStr(TOKEN), "telegram_api_url": fake.base_url}
        )
    )
    yield rt, fake
    delivery = rt.herald.ctx.deliveries.get(SurfaceKind.TELEGRAM)
    rt.close()
    if delivery is not None:
        delivery.surface.close()  # type: ignore[attr-defined]
    fake.stop()


def test_a_telegram_429_on_the_document_sends_nothing_twice(
    tg_rt: tuple[Runtime, FakeTelegram],
) -> None:
    rt, fake = tg_rt
    ana = fake.private(1111, "Ana", "ana")
    rt.herald.workspace_of(Actor(SurfaceKind.TELEGRAM, "1111", "Ana", "1111", "ana", "1111"))
    message = say_to(rt, SurfaceKind.TELEGRAM, "1111", with_files(), conversation="1111")
    fake.failures.append(
        Failure("sendDocument", 429, "Too Many Requests: retry after 1", retry_after=1)
    )
    with pytest.raises(RetryLater):
        rt.herald.deliver(message)
    assert [r.kind for r in fake.files_in(ana.chat_id)] == ["photo"]  # the text and the photo
    until_done(lambda: rt.herald.deliver(message))
    assert [m["text"] for m in fake.sent(ana.chat_id)] == ["📈 Last 7 days: 4,320 impressions"]
    assert [(r.kind, r.data) for r in fake.files_in(ana.chat_id)] == [
        ("photo", PNG),
        ("document", CSV),
    ]
    assert len(fake.calls_of("sendPhoto")) == 1 and len(fake.calls_of("sendDocument")) == 2
    assert delivered(rt, message) and files_left(rt) == 0


def test_a_picture_telegram_refuses_as_a_photo_goes_as_a_document(
    tg_rt: tuple[Runtime, FakeTelegram],
) -> None:
    rt, fake = tg_rt
    fake.private(1111, "Ana", "ana")
    rt.herald.workspace_of(Actor(SurfaceKind.TELEGRAM, "1111", "Ana", "1111", "ana", "1111"))
    strip = tiny_png(2100, 100)  # wider than 20 times its height: no photo for Telegram
    banner = Message(files=(Attachment("strip.png", "image/png", strip, "A long strip"),))
    message = say_to(rt, SurfaceKind.TELEGRAM, "1111", banner, conversation="1111")
    until_done(lambda: rt.herald.deliver(message))
    (sent,) = fake.files_in(1111)
    assert (sent.kind, sent.data, sent.filename, sent.caption) == (
        "document",
        strip,
        "strip.png",
        "A long strip",
    )
    assert fake.sent(1111) == []  # no text: the file alone
