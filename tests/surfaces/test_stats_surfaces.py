"""`stats 7d` on every surface, end to end: a post drafted, approved and published to the
outbox through the real pipeline (a real worker, both databases), its figures read once as
collection stores them, then `stats 7d` typed by a person: the summary arrives with its chart,
a valid PNG, as each surface shows files (Slack: a DM with the text as its comment, since a
`/herald` answer is private; Telegram: a photo after the text; the terminal: a file whose path
is printed)."""

from __future__ import annotations

import io
from datetime import UTC, datetime

from PIL import Image
from sqlalchemy import select
from starlette.testclient import TestClient

from bot.runtime import Runtime
from core.analytics import store
from storage.models import Post, Target, TargetState
from storage.models_analytics import MetricsSnapshot, Milestone
from tests.fakes.slack import (
    LEE,
    MARIA,
    FakeSlack,
    card_message,
    click,
    slash,
    texts,
)
from tests.fakes.telegram import Bot
from tests.support.helpers import eventually, target_states
from tests.support.terminal import Transcript

SUMMARY = "📈 Your posts in the last 7 days"
TOTALS = "1 post · 1,200 impressions · 84 interactions · 7.0 % engagement"


def read_once(rt: Runtime, number: int) -> None:
    """Post `number`'s figures as collection stores a reading (its 1 h snapshot)."""
    with rt.db.session() as s:
        targets = s.scalars(
            select(Target)
            .join(Post)
            .where(Post.number == number, Target.state == TargetState.PUBLISHED)
        ).all()
        assert targets, f"#{number} is not published"
        for target in targets:
            store.record(
                s,
                MetricsSnapshot(
                    target_id=target.id,
                    milestone=Milestone.HOUR,
                    taken_at=datetime.now(UTC),
                    impressions=1200,
                    likes=70,
                    reposts=8,
                    replies=4,
                    quotes=2,
                    clicks=None,
                    gone=False,
                    raw={},
                ),
            )


def is_png(data: bytes) -> tuple[int, int]:
    """The size of a valid PNG image (Pillow reads it whole), else the test fails."""
    with Image.open(io.BytesIO(data)) as image:
        assert image.format == "PNG"
        image.load()
        assert image.width > 100 and image.height > 100
        return image.size


def test_stats_in_the_terminal(runtime: Runtime) -> None:
    chat = Transcript(runtime)
    chat.push("draft Our new API is live --to outbox")
    chat.wait()
    chat.push("approve 1")
    chat.wait()
    assert target_states(runtime, 1) == {"outbox": "published"}
    read_once(runtime, 1)
    shown = chat.push("stats 7d")
    assert SUMMARY in shown and TOTALS in shown
    (line,) = [x for x in shown.splitlines() if x.startswith("📎 ")]
    path = runtime.settings.data_dir / "files" / "herald-stats-7d.png"
    assert line.endswith(f": {path}")
    is_png(path.read_bytes())
    assert chat.end() == 0


def test_stats_in_slack(slack_web: tuple[Runtime, TestClient], slack: FakeSlack) -> None:
    (rt, client), fake = slack_web, slack

    def command(text: str, user: str = MARIA) -> None:
        body, headers = slash(text, user=user, user_name=user.lower())
        assert client.post("/slack/events", content=body, headers=headers).status_code == 200

    def answered(count: int) -> list[str]:
        found = eventually(
            lambda: texts(fake, "chat.postEphemeral", user=MARIA)[count - 1 :],
            what=f"answer {count}",
        )
        return found

    command(f"role <@{LEE}|lee> approver")
    assert "is now" in answered(1)[0]
    command("draft Our new API is live --to outbox")
    channel, ts = card_message(fake, 1)
    body, headers = click(fake, "herald_approve", "1", user=LEE, channel=channel, ts=ts)
    assert client.post("/slack/events", content=body, headers=headers).status_code == 200
    eventually(lambda: target_states(rt, 1) == {"outbox": "published"}, what="publish")
    read_once(rt, 1)

    command("stats 7d")
    (share,) = eventually(lambda: fake.shared(), what="the chart")
    assert share.channel.startswith("D")  # the answer is Maria's alone: her DM with Herald
    assert share.initial_comment is not None
    assert SUMMARY in share.initial_comment and TOTALS in share.initial_comment
    ((name, title, data),) = share.files
    assert name == "herald-stats-7d.png" and "interactions by day" in title
    is_png(data)
    note = eventually(
        lambda: [t for t in texts(fake, "chat.postEphemeral", user=MARIA) if "📎" in t],
        what="the note where she asked",
    )
    assert "I sent you a file in a direct message." in note[0]


def test_stats_in_telegram(tg: Bot) -> None:
    ana = tg.fake.private(1111, "Ana", "ana")
    tg.published(ana, "Our new API is live")
    read_once(tg.runtime, 1)

    asked = ana.says("/stats 7d")
    assert tg.send(asked) == 200
    (photo,) = tg.fake.wait_for(lambda: tg.fake.files_in(ana.chat_id), what="the chart")
    assert photo.kind == "photo" and photo.filename == "herald-stats-7d.png"
    assert photo.caption is not None and "interactions by day" in photo.caption
    is_png(photo.data)
    (summary,) = [m for m in tg.fake.sent(ana.chat_id) if m["text"].startswith(SUMMARY)]
    assert TOTALS in summary["text"]
    # The answer replies to the person's command, the chart after the text.
    asked_id = asked["message"]["message_id"]
    assert summary["reply_to"] == asked_id and photo.reply_to == asked_id
    assert summary["message_id"] < photo.message_id
