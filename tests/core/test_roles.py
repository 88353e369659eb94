"""Roles go to the person the platform identifies, never to whoever chose a look-alike name;
only owners change owners."""

from __future__ import annotations

from sqlalchemy import select

from bot.runtime import Runtime
from bot.slack.people import slack_text
from core.workspace.people import Actor
from storage.models import Member
from tests.support.helpers import actor, slack_actor


def roles(rt: Runtime) -> dict[str, str]:
    with rt.db.session() as s:
        rows = s.execute(select(Member.external_id, Member.role)).all()
        return {external_id: role.value for external_id, role in rows}


def say(rt: Runtime, who: Actor, raw_slack_text: str) -> str:
    reply = rt.herald.handle(who, slack_text(raw_slack_text))
    return reply.text or ""


ANA = slack_actor("U1ANA", "ana")  # first: the owner
LEE = slack_actor("U2LEE", "lee")
# Two people who picked names that collide with Lee's name and id.
MALLORY = slack_actor("U3MAL", "lee")
EVE = slack_actor("U4EVE", "U2LEE")


def team(rt: Runtime) -> None:
    for person in (ANA, LEE, MALLORY, EVE):
        rt.herald.handle(person, "queue")


def test_a_slack_mention_gives_the_role_to_that_id_only(idle_runtime: Runtime) -> None:
    team(idle_runtime)
    assert say(idle_runtime, ANA, "role <@U2LEE|lee> admin") == "@lee is now admin."
    assert say(idle_runtime, ANA, "role <@U3MAL> viewer") == "@lee is now viewer."
    assert roles(idle_runtime) == {
        "U1ANA": "owner",
        "U2LEE": "admin",
        "U3MAL": "viewer",
        "U4EVE": "editor",
    }


def test_a_typed_name_or_id_picks_nobody_and_lists_who_it_could_be(
    idle_runtime: Runtime,
) -> None:
    team(idle_runtime)
    before = roles(idle_runtime)
    answer = say(idle_runtime, ANA, "role lee admin")
    assert "never by a typed name" in answer and "role @name admin" in answer
    assert "@lee (id U2LEE)" in answer and "@lee (id U3MAL)" in answer
    answer = say(idle_runtime, ANA, "role @U2LEE admin")
    assert "@U2LEE (id U4EVE)" in answer and "(id U2LEE)" in answer
    # Slack escapes a typed "<": the literal mention form can't pass for Slack's own.
    answer = say(idle_runtime, ANA, "role &lt;@U4EVE&gt; admin")
    assert "never by a typed name" in answer
    assert roles(idle_runtime) == before


def test_a_typed_name_never_creates_a_member(idle_runtime: Runtime) -> None:
    team(idle_runtime)
    before = roles(idle_runtime)
    answer = say(idle_runtime, ANA, "role newcomer approver")
    assert "never by a typed name" in answer and "could be" not in answer
    assert roles(idle_runtime) == before
    # A mention of someone who has not spoken yet is their verified id: it may.
    assert say(idle_runtime, ANA, "role <@U9NEW|kim> approver") == "@U9NEW is now approver."
    assert roles(idle_runtime)["U9NEW"] == "approver"


def test_an_admin_cannot_change_an_owner(idle_runtime: Runtime) -> None:
    maria, lee, kim = actor("maria"), actor("lee"), actor("kim")
    for person in (maria, lee, kim):
        idle_runtime.herald.handle(person, "queue")
    idle_runtime.herald.handle(maria, "role kim owner")
    idle_runtime.herald.handle(maria, "role lee admin")
    before = roles(idle_runtime)
    assert before == {"maria": "owner", "lee": "admin", "kim": "owner"}
    for line in ("role kim editor", "role maria viewer", "role kim admin"):
        reply = idle_runtime.herald.handle(lee, line)
        assert reply.error
        assert "only an owner can change an owner's role" in (reply.text or "")
    assert roles(idle_runtime) == before
    # An owner still can.
    assert idle_runtime.herald.handle(maria, "role kim admin").text == "@kim is now admin."
