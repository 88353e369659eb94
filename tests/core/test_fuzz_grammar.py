"""Fuzzing the grammar: hostile text never breaks a command into a traceback, and the commands
of someone not allowed to change things change nothing."""

from __future__ import annotations

import contextlib
from typing import Any

from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st
from sqlalchemy import select

from bot.runtime import Runtime
from bot.slack.people import slack_text
from core.errors import HeraldError
from core.grammar import redact_secrets
from core.registry import commands, parse
from core.sanitize import clean_input
from core.workspace.people import Actor
from storage.models import ConnectedAccount, Member, Post, Workspace
from tests.support.helpers import actor, slack_actor, snapshot

WORDS = [*sorted(commands().words()), "/draft", "APPROVE", "Role", "policy", "connect", "ship it"]
TOKENS = [
    "1", "#1", "2", "#999999999", "0", "-1", "x", "outbox", "linkedin", "bluesky", "mastodon",
    "on", "off", "owner", "admin", "viewer", "approver", "self-approval", "approvals", "5",
    "--to", "--at", "--to=x", "tomorrow 9am", "yesterday", "<@U1ANA>", "<@U1ANA|ana>",
    "&lt;@U1ANA&gt;", "<@U3MAL>", "@ana", "maria", "\x00", "\x1b[31m", "\x1b]0;t\x07", "'",
    '"', "“", "#", "\u202e", "\u200b", "\ud800", "\r", "\x85", "approvals-channel", "#C1",
    "acme.bsky.social", "abcd-efgh-ijkl-mnop", "http://127.0.0.1/", "tone", "clear",
]  # fmt: skip
# Any code point, lone surrogates included (a JSON body can carry "\\ud800").
ANY = st.text(
    alphabet=st.characters(categories=["Cs", "Cc", "Cf", "Co", "Lu", "Ll", "Lo", "Nd", "Zs", "So"]),
    max_size=40,
)
hostile_line = st.one_of(
    st.builds(
        lambda head, rest: " ".join([head, *rest]),
        st.sampled_from(WORDS),
        st.lists(st.one_of(st.sampled_from(TOKENS), st.text(max_size=12)), max_size=6),
    ),
    st.text(max_size=80),
    ANY,
)
QUICK = settings(
    max_examples=100, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)


@settings(max_examples=400, deadline=None)
@given(hostile_line)
def test_the_parser_answers_anything_with_a_command_or_a_refusal(line: str) -> None:
    with contextlib.suppress(HeraldError):  # a refusal is an answer; anything else fails
        parse(clean_input(line))
    redact_secrets(line)


def _generated(rt: Runtime) -> None:
    with rt.db.session() as s:
        ids = list(s.scalars(select(Post.id)))
    for post_id in ids:
        rt.herald.generate(post_id)


def _state(rt: Runtime) -> dict[str, Any]:
    with rt.db.session() as s:
        roles = s.execute(select(Member.external_id, Member.role).order_by(Member.id)).all()
        spaces = s.execute(
            select(Workspace.self_approval, Workspace.approvals_required, Workspace.settings)
        ).all()
        accounts = list(s.scalars(select(ConnectedAccount.id)))
    return {
        **snapshot(rt),
        "roles": [tuple(r) for r in roles],
        "workspaces": [tuple(w) for w in spaces],
        "accounts": accounts,
    }


def _answered_plainly(rt: Runtime, who: Actor, line: str) -> None:
    reply = rt.herald.handle(who, line)
    said = f"{reply.text or ''} {reply.card.title if reply.card else ''}"
    assert "Something went wrong" not in said, (line, said)
    assert "Traceback" not in said and "\x1b" not in said and "\x00" not in said


def test_a_viewers_fuzzed_commands_change_nothing(idle_runtime: Runtime) -> None:
    rt = idle_runtime
    maria, vic = actor("maria"), actor("vic")
    ana, mal = slack_actor("U1ANA", "ana"), slack_actor("U3MAL", "mal")
    rt.herald.handle(maria, "queue")  # the owner
    rt.herald.handle(vic, "queue")  # a terminal with one person has no roles or policy
    for owner, viewer in ((maria, "role vic viewer"), (ana, slack_text("role <@U3MAL> viewer"))):
        rt.herald.handle(owner, "policy self-approval off")
        assert not rt.herald.handle(owner, viewer).error
        rt.herald.handle(owner, "draft Our API is live --to outbox")
    rt.herald.handle(vic, "queue")
    rt.herald.handle(mal, "queue")
    _generated(rt)
    before = _state(rt)

    @QUICK
    @given(hostile_line, st.booleans())
    def fuzz(line: str, on_slack: bool) -> None:
        if on_slack:
            _answered_plainly(rt, mal, slack_text(line))
        else:
            _answered_plainly(rt, vic, line)
        assert _state(rt) == before

    fuzz()


def test_an_editors_fuzzed_admin_commands_change_no_role_or_policy(idle_runtime: Runtime) -> None:
    rt = idle_runtime
    ana, eve = slack_actor("U1ANA", "ana"), slack_actor("U4EVE", "U1ANA")  # a look-alike name, too
    rt.herald.handle(ana, "policy self-approval off")
    rt.herald.handle(eve, "queue")  # joins as an editor

    def guarded() -> dict[str, Any]:
        state = _state(rt)
        return {k: state[k] for k in ("roles", "workspaces", "accounts")}

    before = guarded()
    admin_line = st.builds(
        lambda head, rest: " ".join([head, *rest]),
        st.sampled_from(["role", "policy", "config", "connect", "disconnect", "voice"]),
        st.lists(st.one_of(st.sampled_from(TOKENS), st.text(max_size=12)), max_size=5),
    )

    @QUICK
    @given(admin_line)
    def fuzz(line: str) -> None:
        _answered_plainly(rt, eve, slack_text(line))
        assert guarded() == before

    fuzz()


def test_an_owners_fuzzed_commands_are_answered_plainly(idle_runtime: Runtime) -> None:
    """Allowed to do everything, an owner's hostile text still gets an answer, not an error
    with a reference (attach and connect reach out to the network: left to their own tests)."""
    rt = idle_runtime
    maria = actor("maria")
    rt.herald.handle(maria, "draft Our API is live --to outbox")
    _generated(rt)
    local = [w for w in WORDS if w not in {"attach", "connect"}]
    owner_line = st.one_of(
        st.builds(
            lambda head, rest: " ".join([head, *rest]),
            st.sampled_from(local),
            st.lists(st.one_of(st.sampled_from(TOKENS), st.text(max_size=12)), max_size=6),
        ),
        st.builds(lambda rest: f"draft {rest} --to outbox", ANY),
        st.builds(lambda rest: f"edit 1 outbox {rest}", ANY),
    )

    @QUICK
    @given(owner_line)
    @example("draft a lone \ud800 surrogate --to outbox")
    @example("edit 1 outbox \udfff\x00\x1b[31m")
    @example("reject 1 \ud83d")
    def fuzz(line: str) -> None:
        _answered_plainly(rt, maria, line)

    fuzz()
