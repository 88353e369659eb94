"""The Telegram bot behind `herald web`: real HTTP webhook requests, a fake Bot API, a real
Celery worker, on SQLite and on PostgreSQL + Redis."""

from __future__ import annotations

import random
import time
from typing import Any

import pytest
from sqlalchemy import select

from bot.telegram import flood
from storage.models import Member, SurfaceKind, Target
from tests.fakes.telegram import (
    WEBHOOK_SECRET,
    Bot,
    FakeTelegram,
    Person,
)
from tests.support.helpers import eventually, outbox_files, post_state, snapshot, target_states


def texts(fake: FakeTelegram, chat_id: int) -> list[str]:
    return [m["text"] for m in fake.sent(chat_id)]


def card_ready(bot: Bot, person: Person, number: int) -> dict:  # type: ignore[type-arg]
    card: dict = bot.fake.wait_for(  # type: ignore[type-arg]
        lambda: (c := bot.fake.card(person.chat_id, number)) and "reply_markup" in c and c,
        what=f"the card of #{number}",
    )
    return card


def test_webhook_refuses_a_missing_or_wrong_secret(tg: Bot) -> None:
    from prometheus_client import REGISTRY

    def rejected() -> float:
        name, labels = "herald_rejected_requests_total", {"surface": "telegram"}
        return REGISTRY.get_sample_value(name, labels) or 0.0

    counted = rejected()
    ana = tg.fake.private(1111, "Ana", "ana")
    before = snapshot(tg.runtime)
    assert tg.send(ana.says("/draft Sneaky --to outbox"), secret=None) == 403
    assert tg.send(ana.says("/draft Sneaky --to outbox"), secret="wrong") == 403
    assert tg.send(ana.says("/draft Sneaky --to outbox"), secret=WEBHOOK_SECRET + "x") == 403
    assert rejected() == counted + 3  # each refusal is counted for the alert on bursts
    assert tg.fake.calls_of("sendMessage") == []
    assert snapshot(tg.runtime) == before
    # Registered on start with the secret, and the command menu set.
    assert tg.fake.webhook["secret_token"] == WEBHOOK_SECRET
    assert tg.fake.webhook["url"].endswith("/telegram/webhook")
    names = [c["command"] for c in tg.fake.commands]
    for name in ("start", "draft", "queue", "approve", "reject", "tz", "help"):
        assert name in names


def test_full_loop_draft_approve_publish_edits_the_card(
    tg: Bot, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(flood, "PER_CHAT", (1, 1.0))  # Telegram's real per-chat limit
    ana = tg.fake.private(1111, "Ana", "ana")
    assert tg.send(ana.says("/start")) == 200
    assert "Herald workspace" in texts(tg.fake, ana.chat_id)[-1]
    assert tg.send(ana.says("/draft Our new API is live --to outbox")) == 200
    assert "Drafting #1 for Outbox…" in texts(tg.fake, ana.chat_id)
    card = card_ready(tg, ana, 1)
    assert "Our new API is live" in card["text"] or "API" in card["text"]
    labels = [b["text"] for row in card["reply_markup"]["inline_keyboard"] for b in row]
    assert [label.split()[-1] for label in labels] == ["Approve", "Edit", "Regenerate", "Reject"]
    for row in card["reply_markup"]["inline_keyboard"]:
        for b in row:
            assert len(b["callback_data"].encode()) <= 64
            assert "approve" not in b["callback_data"] and b["callback_data"] != "1"

    click = ana.clicks(card, "Approve")
    assert tg.send(click) == 200
    query = click["callback_query"]["id"]
    assert tg.fake.answers[query] == 1
    eventually(lambda: target_states(tg.runtime, 1) == {"outbox": "published"}, what="publish")
    assert len(outbox_files(tg.runtime)) == 1
    link = str(tg.runtime.settings.outbox_dir)
    final = tg.fake.wait_for(
        lambda: (c := tg.fake.card(ana.chat_id, 1)) and link in c["text"] and c,
        what="the card edited with the link",
    )
    assert final["message_id"] == card["message_id"]  # edited in place, not posted again
    assert "reply_markup" not in final  # nothing left to press
    assert "published" in final["text"]
    # The history goes as a reply to the card.
    tg.fake.wait_for(
        lambda: any(
            m["text"].startswith("🚀 #1 published") and m.get("reply_to") == card["message_id"]
            for m in tg.fake.sent(ana.chat_id)
        ),
        what="the published line as a reply to the card",
    )
    assert tg.fake.answers[query] == 1


def test_the_same_update_twice_drafts_once(tg: Bot) -> None:
    ana = tg.fake.private(1111, "Ana", "ana")
    update = ana.says("/draft Twice delivered --to outbox")
    assert tg.send(update) == 200
    assert tg.send(update) == 200
    card_ready(tg, ana, 1)
    assert post_state(tg.runtime, 2) is None
    drafting = [t for t in texts(tg.fake, ana.chat_id) if t.startswith("Drafting")]
    assert drafting == ["Drafting #1 for Outbox…"]


def test_a_viewer_click_changes_nothing_and_is_told_why(tg: Bot) -> None:
    team = tg.fake.group(-100200, "Acme team")
    ana = tg.fake.member(team, 1111, "Ana", "ana")
    lee = tg.fake.member(team, 2222, "Lee", "lee")
    tg.send(ana.says("/start"))
    lee_asked = lee.says("/queue")
    tg.send(lee_asked)
    # A reply names the person Telegram verified (a typed name never picks anyone).
    tg.send(ana.says("/role viewer", reply_to=lee_asked["message"]))
    tg.send(ana.says("/draft Team news --to outbox"))
    card = card_ready(tg, ana, 1)
    before = snapshot(tg.runtime)
    edits = len(tg.fake.calls_of("editMessageText"))
    click = lee.clicks(card, "Approve")
    assert tg.send(click) == 200
    answer = tg.fake.calls_of("answerCallbackQuery")[-1].params
    assert answer["callback_query_id"] == click["callback_query"]["id"]
    assert "viewer" in answer["text"] and answer.get("show_alert") in (True, "true", "True")
    assert tg.fake.answers[click["callback_query"]["id"]] == 1
    assert snapshot(tg.runtime) == before
    assert len(tg.fake.calls_of("editMessageText")) == edits


def test_every_callback_is_answered_once_even_when_things_fail(tg: Bot) -> None:
    from tests.fakes.telegram import Failure

    ana = tg.fake.private(1111, "Ana", "ana")
    tg.send(ana.says("/start"))
    tg.send(ana.says("/draft Fragile --to outbox"))
    card = card_ready(tg, ana, 1)
    # A forged button: answered, refused, nothing done.
    forged = ana.clicks(card, "Approve")
    forged["callback_query"]["data"] = forged["callback_query"]["data"][:-4] + "AAAA"
    assert tg.send(forged) == 200
    assert tg.fake.answers[forged["callback_query"]["id"]] == 1
    assert "no longer works" in tg.fake.calls_of("answerCallbackQuery")[-1].params["text"]
    assert post_state(tg.runtime, 1) == "pending_approval"
    # Telegram fails while the card is redrawn: the press was still answered exactly once.
    tg.fake.failures.append(Failure("editMessageText", 500, "Internal Server Error", times=5))
    click = ana.clicks(card, "Approve")
    assert tg.send(click) == 200
    assert tg.fake.answers[click["callback_query"]["id"]] == 1
    eventually(lambda: target_states(tg.runtime, 1) == {"outbox": "published"}, what="publish")
    # The same press delivered again is not processed (nor answered) twice.
    assert tg.send(click) == 200
    assert tg.fake.answers[click["callback_query"]["id"]] == 1


def test_group_commands_other_bots_and_unknown_commands(tg: Bot) -> None:
    team = tg.fake.group(-100300, "Acme team")
    ana = tg.fake.member(team, 1111, "Ana", "ana", admin=True)
    assert tg.send(ana.says("/draft@some_other_bot Not for us --to outbox")) == 200
    assert tg.fake.calls_of("sendMessage") == []
    assert tg.send(ana.says("/draft@Herald_Test_Bot For us --to outbox")) == 200
    eventually(lambda: "Drafting #1 for Outbox…" in texts(tg.fake, team["id"]), what="reply")
    # The draft's own messages may still be arriving: look at everything after the command.
    before = len(texts(tg.fake, team["id"]))
    assert tg.send(ana.says("/frobnicate 12")) == 200
    eventually(
        lambda: any(
            'I don\'t know the command "/frobnicate"' in text
            for text in texts(tg.fake, team["id"])[before:]
        ),
        what="the unknown-command answer",
    )
    # Plain talk in a group is not for Herald. (The draft's card may still be on its way:
    # counted once it is there, so only an answer to the talk could change the count.)
    tg.fake.wait_for(lambda: tg.fake.card(team["id"], 1), what="the card of #1")
    time.sleep(0.3)
    count = len(tg.fake.calls_of("sendMessage"))
    assert tg.send(ana.says("lunch anyone?")) == 200
    assert len(tg.fake.calls_of("sendMessage")) == count
    # A group admin who joins later is an admin in Herald.
    kim = tg.fake.member(team, 3333, "Kim", "kim", admin=True)
    before = len(texts(tg.fake, team["id"]))
    tg.send(kim.says("/policy approvals 2"))
    eventually(
        lambda: any("approvals required: 2" in t for t in texts(tg.fake, team["id"])[before:]),
        what="the policy",
    )


def test_long_text_fits_telegram(tg: Bot) -> None:
    ana = tg.fake.private(1111, "Ana", "ana")
    tg.send(ana.says("/start"))
    brief = " ".join(f"w{i:04d}" for i in range(666))[:4000]  # the longest brief there is
    assert tg.send(ana.says(f"/draft {brief} --to outbox")) == 200
    # The card (title, brief, a ~4,000 character variant, when, status) is over Telegram's
    # 4,096: the variant is cut with a pointer to the whole, and the fake accepted it.
    card = card_ready(tg, ana, 1)
    assert "✂ Texts cut to fit one Telegram message; /show 1 sends them whole." in card["text"]
    assert len(card["text"]) <= 4096
    before = len(tg.fake.sent(ana.chat_id))
    assert tg.send(ana.says("/show 1")) == 200
    shown = tg.fake.sent(ana.chat_id)[before:]
    assert shown[0]["text"].startswith("#1 · ") and "reply_markup" in shown[0]
    # As the card promised: the whole text after it, then the history.
    with tg.runtime.db.session() as s:
        text = s.scalars(select(Target.text)).one()
    assert shown[1]["text"] == f"Outbox in full · {len(text):,}/5,000\n{text}"
    assert shown[-1]["text"].startswith("History:")


def test_edit_button_asks_per_network_and_validates_the_reply(tg: Bot) -> None:
    ana = tg.fake.private(1111, "Ana", "ana")
    tg.send(ana.says("/start"))
    tg.send(ana.says("/draft Edit me --to outbox"))
    card = card_ready(tg, ana, 1)
    click = ana.clicks(card, "Edit")
    assert tg.send(click) == 200
    assert tg.fake.answers[click["callback_query"]["id"]] == 1
    prompt = tg.fake.sent(ana.chat_id)[-1]
    assert prompt["text"].startswith("✏️ New Outbox text for #1")
    assert prompt["force_reply"] is True
    assert prompt["reply_to"] == card["message_id"]
    assert tg.send(ana.says("Fresh words from Ana", reply_to=prompt)) == 200
    redrawn = tg.fake.card(ana.chat_id, 1)
    assert redrawn is not None and redrawn["message_id"] == card["message_id"]
    assert "Fresh words from Ana" in redrawn["text"]
    assert "Edited by @ana" in redrawn["text"]


def test_an_edit_reply_that_does_not_fit_is_refused_before_core(tg: Bot) -> None:
    from bot.telegram.render import prompt as make_prompt
    from bot.telegram.tokens import Intent

    ana = tg.fake.private(1111, "Ana", "ana")
    tg.send(ana.says("/start"))
    tg.send(ana.says("/draft Short one --to outbox"))
    card = card_ready(tg, ana, 1)
    # The prompt Herald sends for an X variant (X needs an account, so none exists here).
    surface = tg.runtime.herald.ctx.deliveries[SurfaceKind.TELEGRAM].surface  # type: ignore[attr-defined]
    intent = Intent("pick", 1, "x", card=card["message_id"])
    text, markup = make_prompt(surface.codec, ana.chat_id, "herald_test_bot", intent, None)
    asked = surface.sender.send(ana.chat_id, text, markup=markup, patient=True)
    prompt = tg.fake.messages[(ana.chat_id, asked.message_id)]
    before = snapshot(tg.runtime)
    assert tg.send(ana.says("y" * 300, reply_to=prompt)) == 200
    said = texts(tg.fake, ana.chat_id)
    too_long = "The X text is 300/280 weighted characters. Shorten it by 20. Then reply again."
    assert too_long in said[-2]
    assert said[-1].startswith("✏️ New X text for #1")  # asked again
    assert snapshot(tg.runtime) == before


def test_reject_asks_for_a_reason_and_a_reply_to_the_card_is_feedback(tg: Bot) -> None:
    team = tg.fake.group(-100400, "Acme team")
    ana = tg.fake.member(team, 1111, "Ana", "ana")
    lee = tg.fake.member(team, 2222, "Lee", "lee")
    tg.send(ana.says("/start"))
    lee_asked = lee.says("/queue")
    tg.send(lee_asked)
    # A reply names the person Telegram verified (a typed name never picks anyone).
    tg.send(ana.says("/role approver", reply_to=lee_asked["message"]))
    tg.send(ana.says("/draft Risky claim --to outbox"))
    card = card_ready(tg, ana, 1)
    tg.send(lee.clicks(card, "Reject"))
    prompt = tg.fake.sent(team["id"])[-1]
    assert prompt["text"].startswith("✖ Why reject #1?")
    tg.send(lee.says("too salesy", reply_to=prompt))
    assert post_state(tg.runtime, 1) == "rejected"
    redrawn = tg.fake.card(team["id"], 1)
    assert redrawn is not None and "too salesy" in redrawn["text"]
    tg.send(ana.says("make it calmer", reply_to=redrawn))
    eventually(lambda: post_state(tg.runtime, 1) == "pending_approval", what="the redraft")
    assert any("Drafting #1 again (make it calmer)" in t for t in texts(tg.fake, team["id"]))


# --- media: a photo or file sent to the bot is attached to a post ---------------------------


def png(width: int = 640, height: int = 480) -> bytes:
    import io

    from PIL import Image

    buffer = io.BytesIO()
    Image.new("RGB", (width, height), (250, 140, 60)).save(buffer, "PNG")
    return buffer.getvalue()


def post_media(bot: Bot, number: int) -> list[dict]:  # type: ignore[type-arg]
    from sqlalchemy import select

    from storage.models import Post

    with bot.runtime.db.session() as s:
        post = s.scalar(select(Post).where(Post.number == number))
        return list(post.media or []) if post is not None else []


def test_a_photo_replying_to_a_card_is_attached_and_the_card_redrawn(tg: Bot) -> None:
    ana = tg.fake.private(1111, "Ana", "ana")
    tg.send(ana.says("/start"))
    tg.send(ana.says("/draft Sunset launch --to outbox"))
    card = card_ready(tg, ana, 1)
    edits = len(tg.fake.calls_of("editMessageText"))
    photo = ana.sends_photo(png(640, 480), reply_to=card)
    assert tg.send(photo) == 200
    media = post_media(tg, 1)
    assert len(media) == 1
    # The largest size was downloaded (not the thumbnail), through getFile and the file URL.
    assert (media[0]["width"], media[0]["height"], media[0]["alt"]) == (640, 480, "")
    assert media[0]["content_type"] == "image/png"
    assert len(tg.fake.downloads) == 1 and tg.fake.downloads[0].startswith("photos/")
    answer = tg.fake.sent(ana.chat_id)[-1]
    assert answer["text"].startswith("📎 Attached image (640×480")
    assert "no alt text" in answer["text"]
    assert answer["reply_to"] == photo["message"]["message_id"]
    # The card is redrawn in place, not sent again.
    assert len(tg.fake.calls_of("editMessageText")) > edits
    assert tg.fake.card(ana.chat_id, 1)["message_id"] == card["message_id"]  # type: ignore[index]
    assert "🖼 image 640×480 · no alt text" in tg.fake.card(ana.chat_id, 1)["text"]  # type: ignore[index]


def test_a_photo_captioned_attach_stores_its_alt_text(tg: Bot) -> None:
    ana = tg.fake.private(1111, "Ana", "ana")
    tg.send(ana.says("/start"))
    tg.send(ana.says("/draft Evening post --to outbox"))
    card_ready(tg, ana, 1)
    assert tg.send(ana.sends_photo(png(), caption="/attach 1 A sunset")) == 200
    media = post_media(tg, 1)
    assert [m["alt"] for m in media] == ["A sunset"]
    said = texts(tg.fake, ana.chat_id)
    assert any(t.startswith("📎 Attached image (640×480") for t in said[-2:])
    # Without a card to redraw, the answer brings the card along.
    assert said[-2].startswith("#1 · ") or said[-1].startswith("#1 · ")
    # A photo that names no post is not guessed at: Herald asks which one.
    assert tg.send(ana.sends_photo(png())) == 200
    assert texts(tg.fake, ana.chat_id)[-1].startswith("Which post is this for?")
    assert len(post_media(tg, 1)) == 1


def test_a_viewers_photo_changes_nothing_and_is_told_why(tg: Bot) -> None:
    team = tg.fake.group(-100500, "Acme team")
    ana = tg.fake.member(team, 1111, "Ana", "ana")
    lee = tg.fake.member(team, 2222, "Lee", "lee")
    tg.send(ana.says("/start"))
    lee_asked = lee.says("/queue")
    tg.send(lee_asked)
    # A reply names the person Telegram verified (a typed name never picks anyone).
    tg.send(ana.says("/role viewer", reply_to=lee_asked["message"]))
    tg.send(ana.says("/draft Team news --to outbox"))
    card = card_ready(tg, ana, 1)
    before = snapshot(tg.runtime)
    edits = len(tg.fake.calls_of("editMessageText"))
    photo = lee.sends_photo(png(), reply_to=card)
    assert tg.send(photo) == 200
    answer = tg.fake.sent(team["id"])[-1]
    assert "viewer" in answer["text"]
    assert answer["reply_to"] == photo["message"]["message_id"]
    assert post_media(tg, 1) == []
    assert snapshot(tg.runtime) == before
    assert len(tg.fake.calls_of("editMessageText")) == edits


def test_a_file_over_20_mb_is_refused_without_downloading(tg: Bot) -> None:
    ana = tg.fake.private(1111, "Ana", "ana")
    tg.send(ana.says("/start"))
    tg.send(ana.says("/draft Big video --to outbox"))
    card = card_ready(tg, ana, 1)
    # Telegram announces the size in the update; the bytes behind it never get fetched.
    huge = ana.sends_file(b"\x00\x00\x00\x18ftypmp42", "video/mp4", "launch.mp4", size=25 * 2**20)
    huge["message"]["reply_to_message"] = card
    assert tg.send(huge) == 200
    said = texts(tg.fake, ana.chat_id)[-1]
    assert said.startswith("That file is 25.0 MB: Telegram lets bots download files of up to 20 MB")
    assert "/attach 1 <link>" in said
    assert tg.fake.calls_of("getFile") == [] and tg.fake.downloads == []
    assert post_media(tg, 1) == []


def test_roles_go_only_to_the_person_telegram_identifies(tg: Bot) -> None:
    team = tg.fake.group(-100600, "Acme team")
    ana = tg.fake.member(team, 1111, "Ana", "ana")
    lee = tg.fake.member(team, 2222, "Lee")  # no @username: picked from the mention list
    mal = tg.fake.member(team, 3333, "Lee", "lee")  # a look-alike name and username
    tg.send(ana.says("/start"))
    tg.send(lee.says("/queue"))
    mal_asked = mal.says("/queue")
    tg.send(mal_asked)

    def roles() -> dict[str, str]:
        with tg.runtime.db.session() as s:
            rows = s.execute(select(Member.external_id, Member.role)).all()
            return {external_id: role.value for external_id, role in rows}

    def answer(update: dict) -> str:  # type: ignore[type-arg]
        count = len(texts(tg.fake, team["id"]))
        assert tg.send(update) == 200
        said: list[str] = tg.fake.wait_for(
            lambda: texts(tg.fake, team["id"])[count:], what="the answer"
        )
        return said[-1]

    before = roles()
    by_username = ana.says("/role @lee admin")
    by_username["message"]["entities"].append({"type": "mention", "offset": 6, "length": 4})
    assert "reply to a message of theirs with /role admin" in answer(by_username)
    assert "never by a typed name" in answer(ana.says("/role Lee admin"))
    assert "never by a typed name" in answer(ana.says("/role <@3333> admin"))
    assert roles() == before

    by_text_mention = ana.says("/role Lee approver")
    by_text_mention["message"]["entities"].append(
        {"type": "text_mention", "offset": 6, "length": 3, "user": lee.user}
    )
    assert answer(by_text_mention) == "@Lee is now approver."
    assert answer(ana.says("/role viewer", reply_to=mal_asked["message"])) == "@lee is now viewer."
    assert roles() == {"1111": "owner", "2222": "approver", "3333": "viewer"}


def test_commands_over_the_per_person_limit_are_refused_and_not_run(tg: Bot) -> None:
    ctx = tg.runtime.herald.ctx
    ctx.settings = ctx.settings.model_copy(update={"command_rate_limit": 2})
    # A person of this test's own: counters on Redis outlive a test.
    fast = tg.fake.private(random.randint(10**6, 10**9), "Fast", "fast")  # noqa: S311
    for i in range(3):
        assert tg.send(fast.says(f"/draft Flood {i} --to outbox")) == 200
    refused = tg.fake.wait_for(
        lambda: [t for t in texts(tg.fake, fast.chat_id) if "faster than I can take them" in t],
        what="the refusal",
    )
    assert "try again in" in refused[0]
    card_ready(tg, fast, 2)
    time.sleep(0.5)
    assert post_state(tg.runtime, 3) is None
    drafting = [t for t in texts(tg.fake, fast.chat_id) if t.startswith("Drafting")]
    assert len(drafting) == 2


def test_the_edit_button_on_an_expired_post_says_its_time_has_passed(tg: Bot) -> None:
    from datetime import UTC, datetime

    from core.approvals import deadlines

    class Clock:
        at = datetime(2026, 12, 7, 8, 0, tzinfo=UTC)

        def now(self) -> datetime:
            return self.at

    clock = Clock()
    ctx = tg.runtime.herald.ctx
    ctx.clock = clock
    ana = tg.fake.private(1111, "Ana", "ana")
    tg.send(ana.says("/start"))
    tg.send(ana.says('/draft Launch day --to outbox --at "2026-12-07 12:00 UTC"'))
    card_ready(tg, ana, 1)
    clock.at = datetime(2026, 12, 7, 12, 1, tzinfo=UTC)
    assert deadlines.watch(ctx)["expired"] == 1

    def card_saying(words: str) -> dict[str, Any] | None:
        card = tg.fake.card(ana.chat_id, 1)
        return card if card is not None and words in card["text"] else None

    card = eventually(lambda: card_saying("Expired"), what="the expired card")
    assert card is not None
    assert tg.send(ana.clicks(card, "Edit")) == 200
    prompt = tg.fake.sent(ana.chat_id)[-1]
    assert tg.send(ana.says("Launch day, edited", reply_to=prompt)) == 200
    assert texts(tg.fake, ana.chat_id)[-1] == (
        "✏️ Edited by @ana · waiting for approval\n"
        "Its time, Mon 7 Dec, 12:00 UTC, has passed: it goes out as soon as it is approved, "
        "or set one with schedule 1 <when>."
    )
    redrawn = eventually(lambda: card_saying("Launch day, edited"), what="the card redrawn")
    assert redrawn is not None
    assert "🕘 as soon as approved" in redrawn["text"]
    assert post_state(tg.runtime, 1) == "pending_approval"
