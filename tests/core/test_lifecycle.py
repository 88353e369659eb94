"""Every allowed and forbidden transition of the post and target state machines."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from sqlalchemy import func, select

from bot.runtime import Runtime
from core.posts.lifecycle import POST_RULES, TARGET_RULES
from core.posts.lifecycle import move as move_post
from core.posts.lifecycle import move as move_target
from storage.models import (
    AuditEvent,
    Member,
    Post,
    PostState,
    Role,
    SurfaceKind,
    Target,
    TargetState,
    Workspace,
)

NOW = datetime(2026, 11, 26, 22, 0, tzinfo=UTC)

# The lifecycle of DESIGN.md, written out independently of core/lifecycle.py.
P, T = PostState, TargetState
EXPECTED_POST = {
    ("submit", P.GENERATING): P.PENDING_APPROVAL,
    ("generation_failed", P.GENERATING): P.DRAFT,
    **{
        ("regenerate", s): P.GENERATING
        for s in (P.DRAFT, P.PENDING_APPROVAL, P.REJECTED, P.APPROVED, P.EXPIRED)
    },
    ("approve", P.PENDING_APPROVAL): P.APPROVED,
    ("reject", P.PENDING_APPROVAL): P.REJECTED,
    **{
        ("edit", s): P.PENDING_APPROVAL
        for s in (P.DRAFT, P.PENDING_APPROVAL, P.APPROVED, P.REJECTED, P.EXPIRED)
    },
    **{("cancel", s): P.CANCELLED for s in PostState if s != P.CANCELLED},
    # Unapproved at its planned time, and back for approval at a new one.
    ("expire", P.PENDING_APPROVAL): P.EXPIRED,
    ("renew", P.EXPIRED): P.PENDING_APPROVAL,
}
EXPECTED_TARGET = {
    ("schedule", T.DRAFT): T.SCHEDULED,
    ("reschedule", T.SCHEDULED): T.SCHEDULED,
    ("reschedule", T.FAILED): T.SCHEDULED,
    ("unschedule", T.SCHEDULED): T.DRAFT,
    ("unschedule", T.FAILED): T.DRAFT,
    ("claim", T.SCHEDULED): T.QUEUED,
    ("start", T.QUEUED): T.PUBLISHING,
    ("confirm", T.PUBLISHING): T.PUBLISHED,
    ("confirm", T.UNKNOWN): T.PUBLISHED,
    ("fail", T.QUEUED): T.FAILED,
    ("fail", T.PUBLISHING): T.FAILED,
    ("fail", T.UNKNOWN): T.FAILED,
    ("lose", T.PUBLISHING): T.UNKNOWN,
    ("defer", T.QUEUED): T.SCHEDULED,
    ("defer", T.PUBLISHING): T.SCHEDULED,
    ("resume", T.UNKNOWN): T.PUBLISHING,
    # A person answers "Did this go out?" with "Yes, it's up".
    ("posted", T.FAILED): T.PUBLISHED,
    ("cancel", T.DRAFT): T.CANCELLED,
    ("cancel", T.SCHEDULED): T.CANCELLED,
    ("cancel", T.FAILED): T.CANCELLED,
}


def test_rules_match_the_design() -> None:
    actual_post = {(a, s): r.target for a, r in POST_RULES.items() for s in r.sources}
    actual_target = {(a, s): r.target for a, r in TARGET_RULES.items() for s in r.sources}
    assert actual_post == EXPECTED_POST
    assert actual_target == EXPECTED_TARGET
    # Nothing leaves the terminal states.
    assert not any(s in (P.CANCELLED,) for (_, s) in actual_post)
    assert not any(s in (T.PUBLISHED, T.CANCELLED) for (_, s) in actual_target)


def _post(rt: Runtime, state: PostState, target_state: TargetState = T.DRAFT) -> tuple[int, int]:
    with rt.db.session() as s:
        ws = s.scalars(select(Workspace)).first()
        if ws is None:
            ws = Workspace(kind=SurfaceKind.TERMINAL, external_id="local", name="t", settings={})
            s.add(ws)
            s.flush()
            s.add(Member(workspace_id=ws.id, external_id="m", display_name="m", role=Role.OWNER))
            s.flush()
        member = s.scalars(select(Member)).first()
        assert member is not None
        ws.post_seq += 1
        post = Post(
            workspace_id=ws.id,
            number=ws.post_seq,
            author_id=member.id,
            brief="b",
            state=state,
            revision=1,
            conversation="c",
            generator="offline",
        )
        post.targets = [Target(network="outbox", text="t", warnings={}, state=target_state)]
        s.add(post)
        s.flush()
        return post.id, post.targets[0].id


@pytest.mark.parametrize("action", sorted(POST_RULES))
def test_post_transitions(idle_runtime: Runtime, action: str) -> None:
    for state in PostState:
        post_id, _ = _post(idle_runtime, state)
        with idle_runtime.db.session() as s:
            post = s.get(Post, post_id)
            assert post is not None
            moved = move_post(s, post, action, now=NOW)
        expected = EXPECTED_POST.get((action, state))
        with idle_runtime.db.session() as s:
            post = s.get(Post, post_id)
            assert post is not None
            audits = s.scalar(
                select(func.count(AuditEvent.id)).where(AuditEvent.post_id == post_id)
            )
            assert moved == (expected is not None), (action, state)
            assert post.state == (expected or state), (action, state)
            assert audits == (1 if expected else 0)


@pytest.mark.parametrize("action", sorted(TARGET_RULES))
def test_target_transitions(idle_runtime: Runtime, action: str) -> None:
    for state in TargetState:
        _, target_id = _post(idle_runtime, P.APPROVED, state)
        with idle_runtime.db.session() as s:
            target = s.get(Target, target_id)
            assert target is not None
            moved = move_target(s, target, action, now=NOW, workspace_id=target.post.workspace_id)
        expected = EXPECTED_TARGET.get((action, state))
        with idle_runtime.db.session() as s:
            target = s.get(Target, target_id)
            assert target is not None
            audit = s.scalars(select(AuditEvent).where(AuditEvent.target_id == target_id)).all()
            assert moved == (expected is not None), (action, state)
            assert target.state == (expected or state), (action, state)
            assert [(a.from_state, a.to_state) for a in audit] == (
                [(state.value, expected.value)] if expected else []
            )


def test_a_stale_copy_cannot_move_a_post_twice(idle_runtime: Runtime) -> None:
    post_id, _ = _post(idle_runtime, P.PENDING_APPROVAL)
    with idle_runtime.db.session() as first, idle_runtime.db.session() as second:
        a = first.get(Post, post_id)
        assert a is not None
        assert move_post(first, a, "approve", now=NOW)
        first.commit()
        b = second.get(Post, post_id)  # read after the first commit on PostgreSQL; SQLite waits
        assert b is not None
        assert not move_post(second, b, "reject", now=NOW)
        assert b.state == P.APPROVED
