"""Cost per workspace and month on seeded usage: model spend plus the deployment's monthly
bill shared over the active people; `usage` for admins, the monthly report into the ops
channel once, and the cost alert per active person."""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator
from datetime import UTC, datetime

import pytest
from sqlalchemy import select

from bot.runtime import Runtime
from core.operations.alerts import evaluate
from core.operations.heartbeats import Kind, beat
from core.settings import Settings
from core.workspace.people import Actor
from storage.models import AuditEvent, Member, OutboundMessage, SurfaceKind, Workspace
from storage.models_llm import LlmUsage
from tests.core.test_ops_alerts import OPS_CHAT, Clock, told
from tests.support.helpers import actor
from tests.support.platforms import runtime_with

NOV_20 = datetime(2026, 11, 20, 12, 0, tzinfo=UTC)
BILL = {"compute": 60.0, "database": 30.0, "redis": 10.0}  # $100 a month


@pytest.fixture
def clock() -> Clock:
    return Clock(NOV_20)


@pytest.fixture
def rt(settings: Settings, clock: Clock) -> Iterator[Runtime]:
    runtime = runtime_with(
        settings, worker=False, ops_channel=f"telegram:{OPS_CHAT}", infra_monthly_usd=BILL
    )
    runtime.herald.ctx.clock = clock
    yield runtime
    runtime.close()


def person(name: str, workspace: str) -> Actor:
    return dataclasses.replace(actor(name, workspace=workspace), workspace_name=workspace.title())


def seed(rt: Runtime, clock: Clock) -> None:
    """November: Acme has three active people and spent $12 on the model, Beta one and $3."""
    people = [person(n, "acme") for n in ("maria", "lee", "vic")] + [person("ana", "beta")]
    for who in people:
        assert not rt.herald.handle(who, "queue").error
    ctx = rt.herald.ctx
    with ctx.db.session() as s:
        for who in people:
            ws = s.scalar(select(Workspace).where(Workspace.external_id == who.workspace_id))
            assert ws is not None
            mine = (Member.workspace_id == ws.id) & (Member.external_id == who.user_id)
            me = s.scalar(select(Member).where(mine))
            assert me is not None
            for _ in range(2):  # two actions each: still one active person
                s.add(
                    AuditEvent(
                        workspace_id=ws.id, actor_id=me.id, action="draft", created_at=clock.now()
                    )
                )
        for external, usd in (("acme", 12.0), ("beta", 3.0)):
            ws = s.scalar(select(Workspace).where(Workspace.external_id == external))
            assert ws is not None
            s.add(
                LlmUsage(
                    workspace_id=ws.id,
                    purpose="draft",
                    model="gpt-4o-mini",
                    cost_usd=usd,
                    created_at=clock.now(),
                )
            )


def alive(rt: Runtime) -> None:
    ctx = rt.herald.ctx
    for kind in Kind:
        beat(ctx.db, kind, f"{kind}@ops1", 100, ctx.clock.now())


def test_usage_shows_the_workspace_share_to_its_admins(rt: Runtime, clock: Clock) -> None:
    seed(rt, clock)
    answer = rt.herald.handle(person("maria", "acme"), "usage")
    assert not answer.error, answer.text
    assert answer.text == (
        "Usage in Nov 2026 so far: 3 active people (of 4 on this Herald)\n"
        "Model: $12.00 of $20.00 budget (60%)\n"
        "Infrastructure ≈ $75.00 (3 × $25.00 a person; the whole Herald costs $100.00 a "
        "month: compute $60.00, database $30.00, redis $10.00)\n"
        "Total ≈ $87.00, $29.00 a person"
    )


def test_the_monthly_report_goes_out_once_and_the_cost_alert_fires_and_recovers(
    rt: Runtime, clock: Clock
) -> None:
    seed(rt, clock)
    alive(rt)
    # $115 over 4 people is $28.75 each, over the $5 default.
    assert evaluate(rt.herald.ctx) == 1
    assert told(rt) == [
        "🚨 Herald costs more than $5.00 per active person: $28.75 so far in Nov 2026 "
        "(model $15.00, infrastructure $100.00, 4 active people). "
        "`usage` shows each workspace's share."
    ]
    assert evaluate(rt.herald.ctx) == 0

    clock.at = datetime(2026, 12, 1, 0, 1, tzinfo=UTC)
    alive(rt)
    assert evaluate(rt.herald.ctx) == 2  # November's report; December has nobody active yet
    report, recovered = told(rt)[-2:]
    assert report == (
        "📒 Cost for Nov 2026: $115.00 (model $15.00, infrastructure $100.00), "
        "4 active people, $28.75 a person\n"
        "• Acme: 3 active, model $12.00, infrastructure ≈ $75.00\n"
        "• Beta: 1 active, model $3.00, infrastructure ≈ $25.00"
    )
    assert recovered.startswith("✅ Recovered after 10 days: Herald costs more than $5.00")
    clock.passes(hours=5)
    alive(rt)
    assert evaluate(rt.herald.ctx) == 0  # told once a month
    with rt.db.session() as s:
        ops = s.scalar(select(Workspace).where(Workspace.kind == SurfaceKind.TELEGRAM))
        assert ops is not None
        assert s.query(OutboundMessage).filter_by(workspace_id=ops.id).count() == 3
