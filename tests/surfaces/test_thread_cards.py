"""An X thread on its approval card (every post an approval publishes is shown), on every
surface: the terminal's transcript, Slack's blocks, Telegram's HTML and its /show; and card
payloads stored before cards showed threads still load."""

from __future__ import annotations

from sqlalchemy import select

from bot.runtime import Runtime
from bot.slack.blocks import message_payload, validate_message
from bot.telegram.render import MAX_TEXT, tg_len
from bot.terminal.chat import local_actor
from core.networks import get_network
from core.posts.card import Card, Message
from storage.models import Post, Target
from tests.fakes.openai import connect_stand_ins
from tests.fakes.telegram import Bot
from tests.support.helpers import eventually, messages, post_state
from tests.support.terminal import Transcript
from tests.unit.test_offline_generator import LONG  # a thread of 2 posts on X

# Wide characters count 2 on X: a thread cut at 25 posts, far over one Telegram message.
CJK = ("故人西辞黄鹤楼，烟花三月下扬州。" * 300)[:3900]


MARIA = local_actor("maria")


def _thread(rt: Runtime, number: int = 1) -> list[str]:
    with rt.db.session() as s:
        target = s.scalars(
            select(Target).join(Post).where(Post.number == number, Target.network == "x")
        ).one()
        return [target.text, *target.parts]


def test_the_terminal_card_shows_every_post_of_a_thread(runtime: Runtime) -> None:
    connect_stand_ins(runtime)
    chat = Transcript(runtime)
    chat.push(f"draft {LONG} --to x")
    card = chat.wait()
    posts = _thread(runtime)
    assert len(posts) == 2
    x = get_network("x")
    assert "X · thread of 2 posts\n" in card
    for number, post in enumerate(posts, start=1):
        assert f"  ─ post {number} of 2 · {x.length(post)}/280\n" in card
    for post in posts:
        for line in post.splitlines():
            assert f"  {line}" in card.splitlines(), line
    assert chat.end() == 0


def _card(rt: Runtime, number: int = 1) -> Card:
    """The post's newest card as the chat surfaces get it: read back from its stored payload."""
    cards = [m.card for m in messages(rt) if m.card is not None and m.card.number == number]
    assert cards, "no card"
    return cards[-1]


def _draft(rt: Runtime, line: str) -> None:
    connect_stand_ins(rt)
    reply = rt.herald.handle(MARIA, line)
    assert not reply.error, reply.text
    eventually(lambda: post_state(rt, 1) == "pending_approval", what="the card of #1")


def test_the_slack_card_shows_every_post_of_a_25_post_thread_and_slack_takes_it(
    runtime: Runtime,
) -> None:
    # Every network at once: the most a card holds, with a thread of 25 posts on X.
    _draft(runtime, f"draft {CJK} --to x,linkedin,mastodon,bluesky,facebook,outbox")
    posts = _thread(runtime)
    assert len(posts) == 25
    card = _card(runtime)
    payload = message_payload(Message(card=card))
    validate_message(payload)
    sections = [b["text"]["text"] for b in payload["blocks"] if b["type"] == "section"]
    for post in posts:
        assert post in sections  # a section each, exactly as it will be posted
    x = get_network("x")
    counts = " · ".join(f"{x.length(post)}/280" for post in posts)
    assert f"*X* · thread of 25 posts: {counts} weighted characters" in str(payload["blocks"])
    assert "more posts of this thread" not in str(payload["blocks"])
    # `show` adds the history after the card: still a message Slack takes.
    shown = runtime.herald.handle(MARIA, "show 1")
    validate_message(message_payload(shown))


def test_the_telegram_card_shows_every_post_of_a_25_post_thread_and_show_sends_them_whole(
    tg: Bot,
) -> None:
    connect_stand_ins(tg.runtime)
    ana = tg.fake.private(1111, "Ana", "ana")
    tg.send(ana.says("/start"))
    assert tg.send(ana.says(f"/draft {CJK} --to x,linkedin")) == 200
    card = tg.fake.wait_for(
        lambda: (c := tg.fake.card(ana.chat_id, 1)) and "reply_markup" in c and c,
        what="the card of #1",
    )
    posts = _thread(tg.runtime)
    assert len(posts) == 25
    text = card["text"]
    assert tg_len(text) <= MAX_TEXT  # the fake refuses more, as Telegram does
    assert "X · thread of 25 posts\n" in text
    # Every post is on the card, each labelled and begun; cut evenly, and it says so truly.
    x = get_network("x")
    for number, post in enumerate(posts, start=1):
        label = f"— post {number} of 25 · {x.length(post)}/280\n"
        assert label in text
        assert text.split(label, 1)[1].startswith(post[:20])
    assert "✂ Texts cut to fit one Telegram message; /show 1 sends them whole." in text

    before = len(tg.fake.sent(ana.chat_id))
    assert tg.send(ana.says("/show 1")) == 200
    shown = tg.fake.wait_for(
        lambda: (
            (new := tg.fake.sent(ana.chat_id)[before:])
            and new[-1]["text"].startswith("History:")
            and new
        ),
        what="the history of #1",
    )
    assert shown[0]["text"].startswith("#1 · ") and "reply_markup" in shown[0]
    whole = "\n".join(m["text"] for m in shown[1:-1])
    assert whole.startswith("X in full · thread of 25 posts\n")
    for number, post in enumerate(posts, start=1):
        assert f"— post {number} of 25 · {x.length(post)}/280\n{post}" in whole
    assert all(tg_len(m["text"]) <= MAX_TEXT for m in shown)


def test_telegram_edit_of_a_thread_asks_from_its_first_post_and_the_card_says_what_went(
    tg: Bot,
) -> None:
    connect_stand_ins(tg.runtime)
    ana = tg.fake.private(1111, "Ana", "ana")
    tg.send(ana.says("/start"))
    tg.send(ana.says(f"/draft {LONG} --to x"))
    card = tg.fake.wait_for(
        lambda: (c := tg.fake.card(ana.chat_id, 1)) and "reply_markup" in c and c,
        what="the card of #1",
    )
    first, second = _thread(tg.runtime)
    assert "— post 2 of 2 · " in card["text"] and second in card["text"]
    assert tg.send(ana.clicks(card, "Edit")) == 200
    prompt = tg.fake.sent(ana.chat_id)[-1]
    assert prompt["text"].startswith("✏️ New X text for #1")
    assert prompt["text"].endswith(f"Now:\n{first}")  # the first post alone, as before
    assert tg.send(ana.says("One post now", reply_to=prompt)) == 200
    redrawn = tg.fake.card(ana.chat_id, 1)
    assert redrawn is not None and "One post now" in redrawn["text"]
    assert "post 2 of" not in redrawn["text"] and "X · 12/280" in redrawn["text"]
    # What went with the old text is said in the reply to Ana's answer (handlers.on_reply).
    said = "\n".join(m["text"] for m in tg.fake.sent(ana.chat_id))
    assert "The X thread is now this one post; its other 1 went with the old text." in said
