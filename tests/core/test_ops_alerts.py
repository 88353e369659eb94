"""Alerts into the ops channel on a fake clock: each fires once, repeats at most every
HERALD_ALERT_REPEAT_SECONDS, recovers once; two evaluators running at once tell it once."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import pytest
from fastapi.testclient import TestClient
from pydantic import SecretStr
from sqlalchemy import select, update

from bot.runtime import Runtime
from bot.telegram import flood
from bot.web.app import create_app
from core.operations.alerts import evaluate
from core.operations.heartbeats import Kind, beat
from core.settings import Settings
from storage.models import OutboundMessage, Post, SurfaceKind, Target, TargetState, Workspace
from storage.models_llm import LlmUsage
from tests.fakes.telegram import TOKEN, FakeTelegram
from tests.support.helpers import actor
from tests.support.platforms import add_account, runtime_with

OPS_CHAT = "-1001234567890"
T0 = datetime(2026, 12, 7, 9, 0, tzinfo=UTC)


@dataclass
class Clock:
    at: datetime

    def now(self) -> datetime:
        return self.at

    def passes(self, **span: float) -> None:
        self.at += timedelta(**span)


@pytest.fixture
def clock() -> Clock:
    return Clock(T0)


@pytest.fixture
def rt(settings: Settings, clock: Clock) -> Iterator[Runtime]:
    """No worker of its own (the test writes the heartbeats), the ops channel on Telegram."""
    runtime = runtime_with(
        settings, worker=False, ops_channel=f"telegram:{OPS_CHAT}", timezone="Europe/Berlin"
    )
    runtime.herald.ctx.clock = clock
    yield runtime
    runtime.close()


def told(rt: Runtime) -> list[str]:
    """Every text written for the ops channel, in order."""
    with rt.db.session() as s:
        rows = s.scalars(
            select(OutboundMessage)
            .join(Workspace, Workspace.id == OutboundMessage.workspace_id)
            .where(Workspace.kind == SurfaceKind.TELEGRAM, Workspace.external_id == OPS_CHAT)
            .order_by(OutboundMessage.id)
        ).all()
        assert all(row.conversation == OPS_CHAT for row in rows)
        return [str(row.payload["text"]) for row in rows]


def alive(rt: Runtime, *kinds: Kind) -> None:
    ctx = rt.herald.ctx
    for kind in kinds:
        beat(ctx.db, kind, f"{kind}@ops1", 100, ctx.clock.now())


def test_a_dead_worker_is_told_once_repeated_after_the_interval_and_recovers_once(
    rt: Runtime, clock: Clock
) -> None:
    alive(rt, Kind.WORKER, Kind.SCHEDULER)
    assert evaluate(rt.herald.ctx) == 0

    clock.passes(seconds=90)  # the worker's last beat is 90 s old (stale after 60 s)
    alive(rt, Kind.SCHEDULER)
    assert evaluate(rt.herald.ctx) == 1
    assert evaluate(rt.herald.ctx) == 0
    [fired] = told(rt)
    assert fired.startswith("🚨 No worker alive: the last beat was Mon 7 Dec, 10:00 Europe/Berlin")
    assert "(09:00 UTC)" in fired and "Start `herald worker`" in fired

    clock.passes(hours=1)
    alive(rt, Kind.SCHEDULER)
    assert evaluate(rt.herald.ctx) == 0  # still down, but told an hour ago

    clock.passes(hours=3, minutes=1)  # past HERALD_ALERT_REPEAT_SECONDS (4 h)
    alive(rt, Kind.SCHEDULER)
    assert evaluate(rt.herald.ctx) == 1
    assert evaluate(rt.herald.ctx) == 0
    assert told(rt)[-1].startswith("🚨 Still, since Mon 7 Dec, 10:01 Europe/Berlin")

    clock.passes(minutes=5)
    alive(rt, Kind.WORKER, Kind.SCHEDULER)
    assert evaluate(rt.herald.ctx) == 1
    assert evaluate(rt.herald.ctx) == 0
    assert told(rt)[-1] == "✅ Recovered after 4 h 6 min: No worker alive"
    assert len(told(rt)) == 3

    clock.passes(minutes=2)  # it dies again: a new alert, told again
    alive(rt, Kind.SCHEDULER)
    assert evaluate(rt.herald.ctx) == 1
    assert told(rt)[-1].startswith("🚨 No worker alive")


def test_two_evaluators_at_once_tell_the_channel_once(rt: Runtime, clock: Clock) -> None:
    ctx = rt.herald.ctx
    expected = 0
    for round_ in range(6):
        clock.passes(minutes=5)
        if round_ % 2:
            alive(rt, Kind.WORKER, Kind.SCHEDULER)  # recovered: one message each
        else:
            alive(rt, Kind.SCHEDULER)  # the worker's beat is 5 min old: fires
        expected += 1
        start = threading.Barrier(2)
        sent: list[int] = []

        def run(start: threading.Barrier = start, sent: list[int] = sent) -> None:
            start.wait()
            sent.append(evaluate(ctx))

        threads = [threading.Thread(target=run) for _ in range(2)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(timeout=30)
        assert sorted(sent) == [0, 1], f"round {round_}: {sent}"
    assert len(told(rt)) == expected


def test_model_spend_at_80_and_100_percent_of_a_budget(rt: Runtime, clock: Clock) -> None:
    alive(rt, Kind.WORKER, Kind.SCHEDULER)
    assert not rt.herald.handle(actor("maria", workspace="acme"), "queue").error
    ctx = rt.herald.ctx
    with ctx.db.session() as s:
        ws = s.scalar(select(Workspace).where(Workspace.external_id == "acme"))
        assert ws is not None
        ws_id = ws.id

    def spend(usd: float) -> None:
        with ctx.db.session() as s:
            s.add(
                LlmUsage(
                    workspace_id=ws_id,
                    purpose="draft",
                    model="gpt-4o-mini",
                    cost_usd=usd,
                    created_at=clock.now(),
                )
            )

    spend(15.0)  # of the default $20: 75 %
    assert evaluate(ctx) == 0
    spend(1.5)  # 82.5 %
    assert evaluate(ctx) == 1
    assert told(rt) == ["🚨 Test used 80% of its model budget: $16.50 of $20.00 this month."]
    spend(4.0)
    alive(rt, Kind.WORKER, Kind.SCHEDULER)
    assert evaluate(ctx) == 1
    assert told(rt)[-1].startswith("🚨 Test used 100% of its model budget: $20.50 of $20.00")
    assert evaluate(ctx) == 0

    clock.at = datetime(2027, 1, 1, 0, 5, tzinfo=UTC)  # a new month: nothing spent yet
    alive(rt, Kind.WORKER, Kind.SCHEDULER)
    assert evaluate(ctx) == 3  # December's cost report, and both recoveries
    assert told(rt)[-3].startswith("📒 Cost for Dec 2026: $20.50 (model $20.50")
    assert sorted(told(rt)[-2:]) == sorted(
        [
            "✅ Recovered after 24 days: Test used 100% of its model budget",
            "✅ Recovered after 24 days: Test used 80% of its model budget",
        ]
    )


def test_a_token_about_to_expire_is_told_once_and_recovers_when_reconnected(
    rt: Runtime, clock: Clock
) -> None:
    alive(rt, Kind.WORKER, Kind.SCHEDULER)
    add_account(
        rt,
        "mastodon",
        "1",
        "@acme",
        {"access_token": "t0ken-abcdef"},
        expires_at=T0 + timedelta(days=2),
    )
    assert evaluate(rt.herald.ctx) == 1
    [fired] = told(rt)
    assert fired.startswith(
        "🚨 Test: the mastodon token of @acme expires soon: it expires Wed 9 Dec"
    )
    assert "t0ken" not in fired
    add_account(
        rt,
        "mastodon",
        "1",
        "@acme",
        {"access_token": "t0ken-ghijkl"},
        expires_at=T0 + timedelta(days=60),
    )
    assert evaluate(rt.herald.ctx) == 1
    assert told(rt)[-1].startswith("✅ Recovered after less than a minute: Test: the mastodon")


def test_without_an_ops_channel_nothing_is_evaluated(settings: Settings) -> None:
    runtime = runtime_with(settings, worker=False)
    try:
        assert evaluate(runtime.herald.ctx) == 0
    finally:
        runtime.close()


def test_a_mistyped_ops_channel_is_refused_at_start(settings: Settings) -> None:
    with pytest.raises(ValueError, match=r"slack:<team id>:<channel id>"):
        Settings(_env_file=None, ops_channel="#ops")  # type: ignore[call-arg]


def test_alerts_reach_the_telegram_ops_chat_without_a_worker(
    settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The alert that no worker lives cannot wait for a worker to deliver it: the evaluator
    (a scheduler's timer) sends it itself, through the real Telegram client to the fake."""
    # Telegram's one message a second per chat would hold the second alert for the sweeper.
    monkeypatch.setattr(flood, "PER_CHAT", (50, 1.0))
    fake = FakeTelegram().start()
    fake.group(int(OPS_CHAT), "Ops")
    runtime = runtime_with(
        settings,
        worker=False,
        ops_channel=f"telegram:{OPS_CHAT}",
        telegram_token=SecretStr(TOKEN),
        telegram_api_url=fake.base_url,
    )
    try:
        assert evaluate(runtime.herald.ctx) == 2
        assert evaluate(runtime.herald.ctx) == 0
        texts = sorted(m["text"] for m in fake.sent(int(OPS_CHAT)))
        assert texts[0].startswith("🚨 No scheduler alive: none ran")
        assert texts[1].startswith("🚨 No worker alive: none ran")
        with runtime.db.session() as s:
            rows = s.scalars(select(OutboundMessage)).all()
            assert [row.delivered_at is not None for row in rows] == [True, True]
    finally:
        delivery = runtime.herald.ctx.deliveries.get(SurfaceKind.TELEGRAM)
        runtime.close()
        if delivery is not None:
            delivery.surface.close()  # type: ignore[attr-defined]
        fake.stop()


def test_bursts_of_forged_webhook_calls_and_denied_commands_fire_and_recover(
    rt: Runtime, clock: Clock
) -> None:
    alive(rt, Kind.WORKER, Kind.SCHEDULER)
    with TestClient(create_app(rt)) as web:
        for _ in range(19):
            forged = web.post("/telegram/webhook", json={"update_id": 1})
            assert forged.status_code == 403
        assert evaluate(rt.herald.ctx) == 0  # 19 of the 20 a burst takes
        assert web.post("/telegram/webhook", json={"update_id": 2}).status_code == 403
    # A viewer trying an approver's command, over and over.
    rt.herald.handle(actor("maria"), "queue")
    rt.herald.handle(actor("vic"), "queue")  # vic joins: a terminal alone has no roles
    assert not rt.herald.handle(actor("maria"), "role vic viewer").error
    for _ in range(20):
        assert rt.herald.handle(actor("vic"), "policy approvals 2").error
    assert evaluate(rt.herald.ctx) == 2
    assert evaluate(rt.herald.ctx) == 0
    assert sorted(told(rt)) == [
        "🚨 A burst of refusals: commands were refused for the person's role: 20 in the last "
        "5 min. Someone is trying what their role does not allow: `role` shows who may do what.",
        "🚨 A burst of refusals: webhook requests were refused for their signature: 20 in the "
        "last 5 min. Someone other than Slack or Telegram is calling Herald's webhooks, or a "
        "signing secret changed: check HERALD_SLACK_SIGNING_SECRET and "
        "HERALD_TELEGRAM_WEBHOOK_SECRET.",
    ]
    clock.passes(minutes=6)
    alive(rt, Kind.WORKER, Kind.SCHEDULER)
    assert evaluate(rt.herald.ctx) == 2
    assert all(text.startswith("✅ Recovered after 6 min: A burst") for text in told(rt)[-2:])


def test_a_post_waiting_past_its_time_is_told_and_recovers_when_it_goes_out(
    rt: Runtime, clock: Clock
) -> None:
    """The lag is the backlog's (`core.scheduling.queries.backlog`), the one the metrics and
    `herald status` show: approved posts past their time, not yet out."""
    maria = actor("maria")
    assert not rt.herald.handle(maria, "draft Launch day --to outbox").error
    with rt.db.session() as s:
        post_id = s.scalars(select(Post.id)).one()
    rt.herald.generate(post_id)
    assert not rt.herald.handle(maria, "draft Not approved yet --to outbox").error
    alive(rt, Kind.WORKER, Kind.SCHEDULER)
    assert "approved" in (rt.herald.handle(maria, "approve 1").text or "")
    clock.passes(minutes=4)  # under HERALD_ALERT_LAG_SECONDS (5 min)
    alive(rt, Kind.WORKER, Kind.SCHEDULER)
    assert evaluate(rt.herald.ctx) == 0
    clock.passes(minutes=2)
    alive(rt, Kind.WORKER, Kind.SCHEDULER)
    assert evaluate(rt.herald.ctx) == 1
    [fired] = told(rt)
    assert fired.startswith("🚨 Posts wait more than 300 s to go out")
    assert "the oldest has waited 6 min" in fired
    with rt.db.session() as s:
        s.execute(update(Target).values(state=TargetState.PUBLISHED))
    assert evaluate(rt.herald.ctx) == 1
    assert told(rt)[-1].startswith("✅ Recovered after")
