"""The terminal chat as a dialogue, in process: each line pushed, its answers read, on both
databases with a real worker. tests/e2e/test_terminal.py runs the `herald chat` binary."""

from __future__ import annotations

import json

from sqlalchemy import select

from bot.runtime import Runtime
from bot.terminal.chat import SINCE
from storage.models import Member, Workspace
from tests.support.helpers import eventually, outbox_files, snapshot, target_states
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


def _people_and_policy(rt: Runtime) -> tuple[object, ...]:
    with rt.db.session() as s:
        people = sorted((m.external_id, m.role.value) for m in s.scalars(select(Member)))
        spaces = [
            (w.settings, w.self_approval, w.approvals_required)
            for w in s.scalars(select(Workspace).order_by(Workspace.id))
        ]
    return people, spaces


def test_team_settings_are_refused_on_a_one_person_terminal(runtime: Runtime) -> None:
    chat = Transcript(runtime)
    chat.push("queue")  # maria arrives: the owner, alone
    before = snapshot(runtime), _people_and_policy(runtime)
    refusals = {
        "role lee approver": "The terminal chat has one person, you, so there is nobody",
        "policy approvals 2": "The terminal chat has one person, so approvals need no second",
        "policy self-approval off": "self-approval stays on and one approval is enough",
        "config approvals-channel #launches": "approval cards show here and need no team channel",
    }
    for line, says in refusals.items():
        answer = chat.push(line)
        assert says in answer, (line, answer)
        assert (snapshot(runtime), _people_and_policy(runtime)) == before, line
    assert "use Slack or Telegram" in chat.push("policy self-approval off approvals 3")
    # What makes sense for one person still works, and she can still approve her own draft.
    assert "Self-approval: on · approvals required: 1" in chat.push("policy")
    assert "Self-approval: on · approvals required: 1" in chat.push("policy approvals 1")
    assert "Approval cards go to where each draft was asked." in chat.push("config")
    chat.push("draft Still mine to approve --to outbox")
    assert "✅ #1 approved by @maria" in chat.push("approve 1")
    assert chat.end() == 1  # the refusals
    assert len(outbox_files(runtime)) == 1


def test_a_second_person_at_the_terminal_makes_it_a_team(runtime: Runtime) -> None:
    Transcript(runtime, user="lee").push("queue")  # herald chat --user lee
    chat = Transcript(runtime)
    assert "@maria is now approver." not in chat.push("role maria approver")  # lee owns it
    owner = Transcript(runtime, user="lee")
    assert "@maria is now approver." in owner.push("role maria approver")
    assert "Self-approval: off · approvals required: 2" in owner.push(
        "policy self-approval off approvals 2"
    )
    assert owner.end() == 0


def test_show_prints_the_card_first_and_titles_say_what_the_post_is(runtime: Runtime) -> None:
    chat = Transcript(runtime)
    chat.push("draft Card first --to outbox")
    assert chat.wait().startswith("#1 · Draft by @maria · for Outbox\n")
    chat.push("approve 1")
    chat.wait()
    shown = chat.push("show 1")
    assert shown.startswith("> show 1\n#1 · Published by @maria · for Outbox\n"), shown
    assert shown.index("When: ") < shown.index("History:")

    chat.push("draft Later on --to outbox --at tomorrow 9am")
    chat.push("approve 2")
    assert "#2 · Scheduled by @maria · for Outbox\n" in chat.push("show 2")
    chat.push("draft Too salesy by far --to outbox")
    chat.push("reject 3 too salesy")
    assert "#3 · Rejected by @maria · for Outbox\n" in chat.push("show 3")
    assert chat.end() == 0


def test_queue_shows_a_rejected_post_as_rejected_and_last(runtime: Runtime) -> None:
    chat = Transcript(runtime)
    chat.push("draft Too salesy by far --to outbox")
    chat.push("draft Waiting for a yes --to outbox")
    chat.push("reject 1 too salesy")
    lines = chat.push("queue").splitlines()[1:]
    assert [line.split(" · ")[:2] for line in lines] == [
        ["#2", "pending approval"],
        ["#1", "rejected"],
    ], lines
    assert lines[0].endswith(" · as soon as approved")
    assert "❌ Rejected by @maria: too salesy" in lines[1]
    assert lines[1].endswith(" · edit 1 or regenerate 1 to try again")
    assert "as soon as approved" not in lines[1]
    assert chat.end() == 0


def test_a_reopened_chat_shows_what_happened_since_the_person_last_looked(
    runtime: Runtime,
) -> None:
    first = Transcript(runtime)
    first.push("draft Out while you were away --to outbox")
    first.push("approve 1")  # and the chat is closed before it goes out
    eventually(lambda: target_states(runtime, 1) == {"outbox": "published"}, what="publish")
    assert "🚀 #1 published" not in first.text

    back = Transcript(runtime)
    news = back.push("queue")
    assert news.startswith(f"{SINCE}\n"), news
    assert news.index("🚀 #1 published · Outbox: ") < news.index("> queue")
    assert back.end() == 0  # news is not a refusal
    again = Transcript(runtime)
    assert again.push("queue").startswith("> queue\n")  # nothing new: no header, no repeat
    # Someone here for the first time is not shown the whole past.
    newcomer = Transcript(runtime, user="lee")
    assert newcomer.push("queue").startswith("> queue\n")
