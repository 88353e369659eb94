"""An X thread's later posts on the card, where the surfaces' limits bite: Slack's 50 blocks,
Telegram's 4,096 characters; the Edit flows still start from the first post alone; card
payloads stored before cards carried threads still load."""

from __future__ import annotations

import html
import re

from bot.slack.blocks import edit_view, message_payload, validate_message, validate_view
from bot.telegram.render import MAX_TEXT, card_html, tg_len, whole_texts
from core.generation.compose import as_thread
from core.networks import get_network
from core.posts.card import Card, Message, VariantView

X = get_network("x")
# Wide characters count 2 on X: cut at 25 posts (core/generation/compose.py MAX_THREAD).
POSTS = as_thread(("故人西辞黄鹤楼，烟花三月下扬州。" * 300)[:4000], ())


def thread(posts: tuple[str, ...] | list[str] = POSTS) -> VariantView:
    first, *rest = posts
    return VariantView(
        "x",
        "X",
        first,
        X.length(first),
        X.limit,
        X.unit,
        "draft",
        warnings=[f"Split into a thread of {len(posts)} posts to fit X."],
        parts=rest,
    )


def single(network: str, text: str) -> VariantView:
    net = get_network(network)
    return VariantView(network, net.display, text, net.length(text), net.limit, net.unit, "draft")


def card(*variants: VariantView) -> Card:
    return Card(12, "#12 · Draft by @maria · for X", "Launch", list(variants), "soon", None, [])


def test_a_stored_card_keeps_its_thread_and_one_stored_before_threads_still_loads() -> None:
    payload = Message(card=card(thread())).to_payload()
    loaded = Message.from_payload(payload)
    assert loaded.card is not None and loaded.card.variants[0] == thread()
    assert [text for text, _ in loaded.card.variants[0].posts()] == list(POSTS)
    del payload["card"]["variants"][0]["parts"]  # stored before cards showed threads
    old = Message.from_payload(payload)
    assert old.card is not None and old.card.variants[0].parts == []
    assert old.card.variants[0].count == f"{X.length(POSTS[0])}/280"


def test_a_thread_counts_each_post_and_is_too_long_when_any_post_is() -> None:
    view = thread(["short 1/3", "also short 2/3", "x" * 300])
    assert view.count == "thread of 3 posts"
    assert view.counts() == ["9/280", "14/280", "300/280"]
    assert view.over and not thread(["a", "b"]).over


def test_slack_packs_a_thread_that_lacks_room_then_says_how_many_posts_it_could_not_show() -> None:
    crowded = [single("linkedin", f"Other network {i}") for i in range(19)]  # 38 blocks
    payload = message_payload(Message(card=card(thread(), *crowded)))
    validate_message(payload)
    shown = "\n\n".join(b["text"]["text"] for b in payload["blocks"] if b["type"] == "section")
    assert all(post in shown for post in POSTS)  # several posts to a section, all there
    assert "more posts of this thread" not in str(payload["blocks"])

    long_posts = [f"{i} " + "https://example.com/" + "a" * 1400 for i in range(25)]
    payload = message_payload(Message(card=card(thread(long_posts), *crowded)))
    validate_message(payload)
    sections = [b["text"]["text"] for b in payload["blocks"] if b["type"] == "section"]
    visible = [p for p in long_posts if any(p in s for s in sections)]
    assert 1 < len(visible) < 25
    hidden = 25 - len(visible)
    assert (
        f"⚠ …and {hidden} more posts of this thread that do not fit in one Slack message, not "
        "shown here. Approving publishes them too; Edit replaces the whole thread with one post."
    ) in str(payload["blocks"])
    assert all(f"Other network {i}" in str(payload["blocks"]) for i in range(19))


def test_telegram_cuts_a_25_post_thread_evenly_within_4096_and_show_sends_it_whole() -> None:
    long = card(thread(), single("outbox", "Outbox words. " * 350))
    body = card_html(long)
    plain = html.unescape(re.sub(r"<[^>]+>", "", body))
    assert tg_len(plain) <= MAX_TEXT
    for number, post in enumerate(POSTS, start=1):
        label = f"— post {number} of 25 · {X.length(post)}/280\n"
        assert plain.split(label, 1)[1].startswith(post[:40])
    assert plain.endswith("✂ Texts cut to fit one Telegram message; /show 12 sends them whole.")
    x_whole, outbox_whole = whole_texts(long)
    assert x_whole.startswith("X in full · thread of 25 posts\n")
    assert all(post in x_whole for post in POSTS)
    assert outbox_whole == "Outbox in full · 4,900/5,000\n" + "Outbox words. " * 350
    # A card that fits says nothing about cutting and has nothing more to send.
    short = card(thread(["One 1/2", "Two 2/2"]))
    assert "✂" not in card_html(short) and whole_texts(short) == []
    assert "<i>— post 2 of 2 · 7/280</i>\nTwo 2/2" in card_html(short)


def test_the_slack_edit_modal_starts_from_the_first_post_only() -> None:
    view = edit_view(card(thread()), channel="C1", ts="1.2")
    validate_view(view)
    (field,) = [b for b in view["blocks"] if b["type"] == "input"]
    assert field["element"]["initial_value"] == POSTS[0]
