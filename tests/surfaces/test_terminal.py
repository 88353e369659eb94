"""The terminal chat as a dialogue, in process: each line pushed, its answers read, on both
databases with a real worker. tests/e2e/test_terminal.py runs the `herald chat` binary."""

from __future__ import annotations

import json

from bot.runtime import Runtime
from tests.support.helpers import outbox_files
from tests.support.terminal import Transcript


def test_the_loop_as_a_dialogue(runtime: Runtime) -> None:
    chat = Transcript(runtime)
    assert chat.push("draft Our new API is live --to outbox") == (
        "> draft Our new API is live --to outbox\nDrafting #1 for Outbox…\n"
    )
    card = chat.wait()
    assert card.startswith("#1 · Draft by @maria · for Outbox\n")
    assert "API is live" in card
    assert card.endswith("[1] Approve  [2] Edit  [3] Regenerate  [4] Reject\n")
    assert chat.push("approve 1").startswith(
        "> approve 1\n✅ #1 approved by @maria · publishing now"
    )
    assert chat.end() == 0
    (file,) = sorted(runtime.settings.outbox_dir.glob("*.json"))
    assert f"🚀 #1 published · Outbox: {file.resolve()}" in chat.read()
    body = json.loads(file.read_text())
    assert body["post"] == 1
    assert "API is live" in body["text"]
    assert "\x1b[" not in chat.text  # plain text: the screen is not a terminal

    # A second session over the same data sees the history, and posts nothing twice.
    again = Transcript(runtime)
    assert "🚀 Outbox: " in again.push("show 1")
    assert "Nothing is waiting." in again.push("queue")
    assert again.end() == 0
    assert len(outbox_files(runtime)) == 1


def test_bad_input_is_refused_and_the_exit_code_says_so(runtime: Runtime) -> None:
    chat = Transcript(runtime)
    answers = {
        "frobnicate 1": 'I don\'t know the command "frobnicate". Type help',
        "draft --to outbox": "What should the post be about?",
        "draft hello --to myspace": 'I don\'t know the network "myspace". Use one of:',
        "draft hello --to outbox --at 2020-01-01 09:00": "that is in the past. Pick a time in the",
        "approve 7": "There is no post #7 here.",
    }
    for line, answer in answers.items():
        assert answer in chat.push(line)
    assert chat.end() == 1
    assert outbox_files(runtime) == []


def test_wait_command_and_numbered_choice(runtime: Runtime) -> None:
    chat = Transcript(runtime)
    chat.push("draft Numbered choices work --to outbox")
    assert "✅ #1 approved by @maria" in chat.push("1")
    assert "🚀 #1 published" in chat.push("wait")
    chat.push("queue")
    assert chat.end() == 0
    assert chat.text.index("🚀 #1 published") < chat.text.index("> queue")


def test_a_number_picks_from_the_last_card_only(runtime: Runtime) -> None:
    chat = Transcript(runtime)
    chat.push("draft Pick a number --to outbox")
    chat.wait()
    assert chat.push("9") == "> 9\nPick a number from 1 to 4.\n"
    assert chat.push("2") == "> 2\nType: edit 1 <network> <new text>\n"
    assert chat.end() == 0  # a hint is not a refusal
