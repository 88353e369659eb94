"""The REST API under /api/v1, as a tool around Herald uses it: a token made in chat acts as
its person, with the same permissions as in chat, narrowed by its scopes; creates are
idempotent; every refusal is an RFC 9457 problem; tokens are stored and logged only hashed."""

from __future__ import annotations

import hashlib
import logging
import re
import threading
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import func, select, update
from starlette.testclient import TestClient

from bot.runtime import Runtime
from bot.web.app import create_app
from core.workspace.people import Actor
from storage.models import AuditEvent, Member, Post
from storage.models_api import ApiIdempotency, ApiToken
from tests.support.clock import Clock
from tests.support.helpers import actor, dump, eventually, post_state, slack_actor

MARIA, LEE, VIC = actor("maria"), actor("lee"), actor("vic")
TOKEN = re.compile(r"hrld_[A-Za-z0-9_-]{40,}")


@pytest.fixture
def client(runtime: Runtime) -> Iterator[TestClient]:
    with TestClient(create_app(runtime)) as http:
        yield http


def new_token(rt: Runtime, who: Actor, words: str = "ci read,draft,approve") -> str:
    reply = rt.herald.handle(who, f"token new {words}")
    assert not reply.error, reply.text
    found = TOKEN.findall(reply.text or "")
    assert len(found) == 1, reply.text
    return str(found[0])


def auth(token: str, **more: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}", **more}


def posts(rt: Runtime) -> int:
    with rt.db.session() as s:
        return s.scalar(select(func.count(Post.id))) or 0


def is_problem(response: Any, status: int, *words: str) -> dict[str, Any]:
    assert response.status_code == status, response.text
    assert response.headers["content-type"].startswith("application/problem+json")
    body: dict[str, Any] = response.json()
    assert body["status"] == status
    assert body["title"]
    for word in words:
        assert word in body["detail"], body
    return body


def create(http: TestClient, token: str, key: str, **body: Any) -> Any:
    payload = {"brief": "Our API is live", "networks": ["outbox"], **body}
    return http.post("/api/v1/posts", json=payload, headers=auth(token, **{"Idempotency-Key": key}))


def team(rt: Runtime) -> None:
    """Maria owns the workspace; Lee is an approver; Vic a viewer; four eyes on."""
    for person in (MARIA, LEE, VIC):
        rt.herald.handle(person, "queue")
    assert not rt.herald.handle(MARIA, "policy self-approval off").error
    assert not rt.herald.handle(MARIA, "role lee approver").error
    assert not rt.herald.handle(MARIA, "role vic viewer").error


def test_a_tool_drafts_approves_lists_and_reads_stats(runtime: Runtime, client: TestClient) -> None:
    token = new_token(runtime, MARIA)
    made = create(client, token, "k-1", at="tomorrow 9am")
    assert made.status_code == 201, made.text
    number = made.json()["post"]["number"]
    assert made.headers["location"] == f"/api/v1/posts/{number}"
    assert made.json()["message"].startswith(f"Drafting #{number} for Outbox for ")
    planned = made.json()["post"]["planned_at"]
    assert planned.endswith("Z")
    assert "UTC" in made.json()["post"]["planned_local"]
    eventually(lambda: post_state(runtime, number) == "pending_approval", what="the draft")
    approved = client.post(f"/api/v1/posts/{number}/approve", headers=auth(token))
    assert approved.status_code == 200, approved.text
    assert approved.json()["message"].startswith(f"✅ #{number} approved by @maria")
    assert approved.json()["post"]["targets"][0]["scheduled_at"] == planned
    listed = client.get("/api/v1/posts", headers=auth(token), params={"state": "approved"})
    assert [p["number"] for p in listed.json()] == [number]
    one = client.get(f"/api/v1/posts/{number}", headers=auth(token)).json()
    assert one["state"] == "approved"
    stats = client.get("/api/v1/stats", headers=auth(token), params={"period": "7d"})
    assert stats.status_code == 200, stats.text
    assert stats.json()["during"] == "in the last 7 days"
    cancelled = client.post(f"/api/v1/posts/{number}/cancel", headers=auth(token))
    assert cancelled.json()["message"] == f"Cancelled #{number}. Nothing will be posted."
    assert post_state(runtime, number) == "cancelled"
    again = client.post(f"/api/v1/posts/{number}/cancel", headers=auth(token))
    is_problem(again, 409, f"#{number} is already cancelled.")


def test_the_same_key_returns_the_first_post_and_another_body_is_refused(
    runtime: Runtime, client: TestClient
) -> None:
    token = new_token(runtime, MARIA)
    first = create(client, token, "launch-1")
    second = create(client, token, "launch-1")
    assert first.status_code == second.status_code == 201
    assert second.json() == first.json()
    assert second.headers["idempotent-replayed"] == "true"
    assert posts(runtime) == 1
    other = create(client, token, "launch-1", brief="Something else entirely")
    is_problem(other, 422, "Idempotency-Key was already used for a different request body")
    assert posts(runtime) == 1
    missing = client.post(
        "/api/v1/posts", json={"brief": "No key", "networks": ["outbox"]}, headers=auth(token)
    )
    is_problem(missing, 422, "Idempotency-Key")
    assert posts(runtime) == 1
    assert create(client, token, "launch-2").json()["post"]["number"] == 2


def test_chat_permissions_hold_for_tokens(runtime: Runtime, client: TestClient) -> None:
    team(runtime)
    maria, lee, vic = (new_token(runtime, p) for p in (MARIA, LEE, VIC))
    number = create(client, maria, "a").json()["post"]["number"]
    eventually(lambda: post_state(runtime, number) == "pending_approval", what="the draft")
    viewer = client.post(f"/api/v1/posts/{number}/approve", headers=auth(vic))
    is_problem(viewer, 403, "You are a viewer here", "role @vic approver")
    is_problem(create(client, vic, "v"), 403, "You are a viewer here")
    own = client.post(f"/api/v1/posts/{number}/approve", headers=auth(maria))
    is_problem(own, 403, "You drafted #", "needs someone else to approve it")
    assert post_state(runtime, number) == "pending_approval"
    assert posts(runtime) == 1
    ok = client.post(f"/api/v1/posts/{number}/approve", headers=auth(lee))
    assert ok.status_code == 200, ok.text
    assert ok.json()["message"].startswith(f"✅ #{number} approved by @lee")
    # Roles are read at each request: a demoted person's token loses the right at once.
    runtime.herald.handle(MARIA, "role lee viewer")
    number2 = create(client, maria, "b").json()["post"]["number"]
    eventually(lambda: post_state(runtime, number2) == "pending_approval", what="the draft")
    is_problem(client.post(f"/api/v1/posts/{number2}/reject", headers=auth(lee)), 403, "viewer")


def test_a_token_does_only_what_its_scopes_say(runtime: Runtime, client: TestClient) -> None:
    reader = new_token(runtime, MARIA, "reader read")
    assert client.get("/api/v1/posts", headers=auth(reader)).status_code == 200
    refused = create(client, reader, "x")
    is_problem(refused, 403, "scopes are read; drafting needs the draft scope")
    assert posts(runtime) == 0
    drafter = new_token(runtime, MARIA, "drafter draft")
    number = create(client, drafter, "y").json()["post"]["number"]
    eventually(lambda: post_state(runtime, number) == "pending_approval", what="the draft")
    is_problem(client.get("/api/v1/posts", headers=auth(drafter)), 403, "the read scope")
    is_problem(
        client.post(f"/api/v1/posts/{number}/approve", headers=auth(drafter)),
        403,
        "approving needs the approve scope",
    )
    assert post_state(runtime, number) == "pending_approval"


def test_no_wrong_expired_or_revoked_token_gets_in(runtime: Runtime, client: TestClient) -> None:
    bare = client.get("/api/v1/posts")
    is_problem(bare, 401, "Authorization: Bearer")
    assert bare.headers["www-authenticate"] == "Bearer"
    is_problem(client.get("/api/v1/posts", headers=auth("nope")), 401, "start with hrld_")
    is_problem(client.get("/api/v1/posts", headers=auth("hrld_" + "a" * 43)), 401, "not valid here")
    token = new_token(runtime, MARIA, "old read 1d")
    assert client.get("/api/v1/posts", headers=auth(token)).status_code == 200
    with runtime.db.session() as s:
        gone = datetime.now(UTC) - timedelta(seconds=1)
        s.execute(update(ApiToken).values(expires_at=gone))
    is_problem(client.get("/api/v1/posts", headers=auth(token)), 401, 'The token "old" expired')
    token = new_token(runtime, MARIA, "ci draft")
    assert not runtime.herald.handle(MARIA, "token revoke ci").error
    refused = create(client, token, "z")
    is_problem(refused, 401, 'The token "ci" was revoked on', "token new <name>")
    assert posts(runtime) == 0
    with runtime.db.session() as s:
        done = s.scalars(select(AuditEvent.action).where(AuditEvent.action.like("token.%")))
        assert sorted(done) == ["token.new", "token.new", "token.revoke"]


def test_tokens_are_stored_only_hashed_and_never_logged(
    runtime: Runtime, client: TestClient, logs: list[logging.LogRecord]
) -> None:
    token = new_token(runtime, MARIA)
    assert client.get("/api/v1/posts", headers=auth(token)).status_code == 200
    create(client, token, "k")
    with runtime.db.session() as s:
        (row,) = s.scalars(select(ApiToken))
        assert row.digest == hashlib.sha256(token.encode()).hexdigest()
        assert row.last_used_at is not None
    stored = dump(runtime)
    assert token not in stored
    assert token[12:] not in stored  # not even the part after what `token list` shows
    logged = "\n".join(r.getMessage() + str(r.args) for r in logs)
    assert token[12:] not in logged
    listed = runtime.herald.handle(MARIA, "token list").text or ""
    assert f"ci (read, draft, approve) {token[:12]}…" in listed
    assert token[12:] not in listed


def test_a_token_is_not_handed_out_where_others_read(runtime: Runtime) -> None:
    group = Actor(**{**MARIA.__dict__, "shared": True})
    reply = runtime.herald.handle(group, "token new ci")
    assert reply.error
    assert "ask for it in a private chat with me" in (reply.text or "")
    with runtime.db.session() as s:
        assert s.scalar(select(func.count(ApiToken.id))) == 0


def test_token_grammar_refuses_clearly(runtime: Runtime) -> None:
    for words, expected in (
        ("token new", "Give the token a name"),
        ("token new ci write", '"write" is not a scope'),
        ("token new ci read 900d", "A token lasts from 1 day"),
        ("token revoke nothing", 'no active token called "nothing"'),
        ("token frobnicate", 'I don\'t know "token frobnicate"'),
    ):
        reply = runtime.herald.handle(MARIA, words)
        assert reply.error, words
        assert expected in (reply.text or ""), reply.text
    new_token(runtime, MARIA, "ci")
    dup = runtime.herald.handle(MARIA, "token new ci")
    assert dup.error
    assert 'already have a token called "ci"' in (dup.text or "")


def test_a_body_over_the_cap_is_refused_before_it_is_read(
    runtime: Runtime, client: TestClient
) -> None:
    token = new_token(runtime, MARIA)
    huge = b'{"brief": "' + b"x" * (runtime.settings.max_body_bytes + 10) + b'"}'
    refused = client.post(
        "/api/v1/posts",
        content=huge,
        headers=auth(token, **{"Idempotency-Key": "big", "Content-Type": "application/json"}),
    )
    is_problem(refused, 413, "The request body is too large for Herald")
    assert posts(runtime) == 0


def test_the_openapi_document_is_served(client: TestClient) -> None:
    doc = client.get("/api/v1/openapi.json")
    assert doc.status_code == 200
    paths = doc.json()["paths"]
    assert set(paths) >= {
        "/posts",
        "/posts/{number}",
        "/posts/{number}/approve",
        "/posts/{number}/reject",
        "/posts/{number}/schedule",
        "/posts/{number}/cancel",
        "/stats",
    }
    assert doc.json()["servers"] == [{"url": "/api/v1"}]


def test_two_racing_creates_with_one_key_make_one_post(
    runtime: Runtime, client: TestClient
) -> None:
    token = new_token(runtime, MARIA)
    barrier = threading.Barrier(4)
    answers: list[Any] = []

    def send() -> None:
        barrier.wait()
        answers.append(create(client, token, "race"))

    threads = [threading.Thread(target=send) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(30)
    assert [a.status_code for a in answers] == [201] * 4, [a.text for a in answers]
    assert len({a.json()["post"]["number"] for a in answers}) == 1
    assert posts(runtime) == 1


# --- the rate limit per token ---------------------------------------------------------------


def clear_of_a_new_minute() -> None:
    """Counts are per fixed minute (on Redis, by the wall clock): start well inside one, so a
    few requests all land in the same window."""
    into = time.time() % 60
    if into > 45:
        time.sleep(61 - into)


def test_a_token_over_its_rate_limit_gets_429_does_nothing_and_others_go_on(
    runtime: Runtime, client: TestClient
) -> None:
    ctx = runtime.herald.ctx
    ctx.settings = ctx.settings.model_copy(update={"api_rate_limit": 3})
    token = new_token(runtime, MARIA)
    other = new_token(runtime, MARIA, "other read")
    clear_of_a_new_minute()
    for _ in range(3):
        assert client.get("/api/v1/posts", headers=auth(token)).status_code == 200
    with runtime.db.session() as s:
        used = {t.name: t.last_used_at for t in s.scalars(select(ApiToken))}
    refused = create(client, token, "over")
    body = is_problem(
        refused,
        429,
        'The token "ci" has sent 3 requests this minute',
        "this one did nothing",
        "Try again in ",
    )
    assert body["title"] == "Too Many Requests"
    wait = int(refused.headers["retry-after"])
    assert 1 <= wait <= 60
    assert f"Try again in {wait} s (at " in body["detail"]
    # Nothing happened: no post, no remembered answer, not even the token's last use.
    assert posts(runtime) == 0
    with runtime.db.session() as s:
        assert s.scalar(select(func.count(ApiIdempotency.id))) == 0
        assert {t.name: t.last_used_at for t in s.scalars(select(ApiToken))} == used
    is_problem(client.get("/api/v1/posts", headers=auth(token)), 429)
    # Another token of the same person has its own count; a stranger is still a 401.
    assert client.get("/api/v1/posts", headers=auth(other)).status_code == 200
    is_problem(client.get("/api/v1/posts", headers=auth("hrld_" + "b" * 43)), 401)
    is_problem(client.get("/api/v1/posts"), 401)
    # 0 turns the limit off.
    ctx.settings = ctx.settings.model_copy(update={"api_rate_limit": 0})
    assert client.get("/api/v1/posts", headers=auth(token)).status_code == 200


def test_the_openapi_document_names_the_429_and_its_retry_after(client: TestClient) -> None:
    doc = client.get("/api/v1/openapi.json").json()
    answer = doc["paths"]["/posts"]["get"]["responses"]["429"]
    assert "Retry-After" in answer["headers"]
    assert "application/problem+json" in answer["content"]


# --- owners and admins and everyone's tokens ------------------------------------------------

ANA, LEO, VAL = (
    slack_actor("U1ANA", "ana"),
    slack_actor("U2LEO", "leo"),
    slack_actor("U3VAL", "val"),
)


def slack_team(rt: Runtime) -> None:
    """Ana owns the Slack workspace, Leo is an admin, Val an editor (a plain member)."""
    for person in (ANA, LEO, VAL):
        rt.herald.handle(person, "queue")
    assert not rt.herald.handle(ANA, "role <@U2LEO> admin").error


def revokes(rt: Runtime) -> list[tuple[int | None, dict[str, Any]]]:
    with rt.db.session() as s:
        return [
            (e.actor_id, dict(e.detail))
            for e in s.scalars(
                select(AuditEvent)
                .where(AuditEvent.action == "token.revoke")
                .order_by(AuditEvent.id)
            )
        ]


def member_id(rt: Runtime, external: str) -> int:
    with rt.db.session() as s:
        found = s.scalar(select(Member.id).where(Member.external_id == external))
        assert found is not None
        return found


def test_an_admin_sees_every_token_and_revokes_anothers(
    runtime: Runtime, client: TestClient
) -> None:
    slack_team(runtime)
    val = new_token(runtime, VAL, "ci read")
    leo = new_token(runtime, LEO, "mine read")
    assert client.get("/api/v1/posts", headers=auth(val)).status_code == 200
    listed = runtime.herald.handle(LEO, "token list all")
    assert not listed.error, listed.text
    text = listed.text or ""
    assert "Every live API token here (2 tokens;" in text
    assert f"• @val: ci (read) {val[:12]}… until " in text
    assert f"• @leo: mine (read) {leo[:12]}… until " in text
    assert "last used " in text and "never used" in text
    assert val[12:] not in text
    # A typed name is words anyone can choose: it picks nobody, and nothing changes.
    typed = runtime.herald.handle(LEO, "token revoke ci @val")
    assert typed.error
    assert "mention them" in (typed.text or "")
    assert client.get("/api/v1/posts", headers=auth(val)).status_code == 200
    # The person as Slack names them: their verified id.
    done = runtime.herald.handle(LEO, "token revoke ci <@U3VAL>")
    assert not done.error, done.text
    assert done.text == 'Revoked the token "ci" of @val. Requests with it are refused from now.'
    is_problem(client.get("/api/v1/posts", headers=auth(val)), 401, 'The token "ci" was revoked')
    assert client.get("/api/v1/posts", headers=auth(leo)).status_code == 200
    ((by, detail),) = revokes(runtime)
    assert by == member_id(runtime, "U2LEO")
    assert detail == {"name": "ci", "shown": val[:12], "member": "val", "member_id": "U3VAL"}
    after = runtime.herald.handle(ANA, "token list all").text or ""
    assert "@val" not in after and "@leo: mine" in after


def test_a_member_may_not_see_or_revoke_others_tokens_and_refusals_change_nothing(
    runtime: Runtime, client: TestClient
) -> None:
    slack_team(runtime)
    val = new_token(runtime, VAL, "ci read")
    leo = new_token(runtime, LEO, "ci read")
    for words, expected in (
        ("token list all", "only owners and admins can see or revoke others' API tokens"),
        ("token revoke ci <@U2LEO>", "only owners and admins can see or revoke others' API"),
    ):
        reply = runtime.herald.handle(VAL, words)
        assert reply.error, words
        assert "You are an editor here" in (reply.text or "")
        assert expected in (reply.text or ""), reply.text
    for words, expected in (
        ("token revoke ci <@U9NOBODY>", "Nobody called @U9NOBODY is in this workspace"),
        ("token revoke nope <@U3VAL>", '@val has no active token called "nope"'),
        ("token revoke ci @val extra", "token revoke takes the token's name, and the person"),
        ("token list everything", "token list takes nothing more, or all"),
    ):
        reply = runtime.herald.handle(LEO, words)
        assert reply.error, words
        assert expected in (reply.text or ""), reply.text
    assert revokes(runtime) == []
    for token in (val, leo):
        assert client.get("/api/v1/posts", headers=auth(token)).status_code == 200
    # Members still revoke their own.
    assert not runtime.herald.handle(VAL, "token revoke ci").error
    is_problem(client.get("/api/v1/posts", headers=auth(val)), 401, "was revoked")
    assert client.get("/api/v1/posts", headers=auth(leo)).status_code == 200


def keys(rt: Runtime) -> list[str]:
    with rt.db.session() as s:
        return list(s.scalars(select(ApiIdempotency.key).order_by(ApiIdempotency.id)))


def test_the_sweeper_forgets_keys_after_a_day_and_a_replay_within_it_gets_the_first_answer(
    runtime: Runtime, client: TestClient
) -> None:
    clock = Clock(datetime(2026, 12, 7, 8, 0, tzinfo=UTC))
    runtime.herald.ctx.clock = clock
    token = new_token(runtime, MARIA)
    first = create(client, token, "old")
    clock.at += timedelta(hours=23)
    fresh = create(client, token, "fresh")
    assert first.status_code == fresh.status_code == 201
    clock.at += timedelta(hours=1, seconds=1)  # "old" is a day and a second old
    assert runtime.herald.sweep()["idempotency_keys"] == 1
    assert keys(runtime) == ["fresh"]
    again = create(client, token, "fresh")
    assert again.json() == fresh.json()
    assert again.headers["idempotent-replayed"] == "true"
    assert posts(runtime) == 2
    # A backlog goes in one sweep.
    with runtime.db.session() as s:
        member_id = s.scalars(select(ApiToken.member_id)).one()
        s.add_all(
            ApiIdempotency(
                member_id=member_id,
                key=f"backlog-{n}",
                fingerprint="f",
                status=201,
                response={},
                created_at=clock.at - timedelta(days=2),
            )
            for n in range(5)
        )
    assert runtime.herald.sweep()["idempotency_keys"] == 5
    assert keys(runtime) == ["fresh"]
