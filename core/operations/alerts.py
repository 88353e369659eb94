"""Alerts into the ops channel (HERALD_OPS_CHANNEL): each fires once, repeats at most every
HERALD_ALERT_REPEAT_SECONDS while it lasts, and says when it recovered.

`evaluate` reads the conditions from the rows (heartbeats, targets, attempts, accounts, model
spend) and compares them with the `ops_alerts` rows. Each change (fire, repeat, recover) is one
conditional UPDATE (or the INSERT of a new key) committed together with its message, so two
evaluators running at once, two schedulers or a tick sent twice, tell the channel once.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterator
from contextvars import ContextVar
from dataclasses import dataclass
from datetime import datetime, timedelta
from functools import partial
from zoneinfo import ZoneInfo

from sqlalchemy import func, select, update
from sqlalchemy.exc import IntegrityError

from core.context import Context, Tx
from core.generation.budget import budget_of, month_start
from core.messaging import delivery
from core.operations.cost import month_cost, month_name
from core.operations.counts import Counted, since
from core.operations.heartbeats import Kind, seen
from core.operations.status import outcomes_by_network
from core.posts.card import Message
from core.scheduling.queries import backlog
from core.timeparse import format_when
from storage.models import (
    AttemptState,
    ConnectedAccount,
    OutboundMessage,
    PublishAttempt,
    SurfaceKind,
    Target,
    TargetState,
    Workspace,
)
from storage.models_llm import LlmUsage
from storage.models_ops import OpsAlert

BUDGET_LEVELS = (0.8, 1.0)
log = logging.getLogger(__name__)
# The ops messages a change wrote, sent once its transaction committed.
_TOLD: ContextVar[list[int]] = ContextVar("herald_ops_told")


@dataclass(frozen=True)
class Condition:
    key: str  # what makes it the same alert from one evaluation to the next
    title: str  # one line, the same while it lasts (the recovery repeats it)
    detail: str  # what is wrong now and what to do


def evaluate(ctx: Context) -> int:
    """Tell the ops channel what changed since the last evaluation; how many messages."""
    if ctx.settings.ops_channel is None:
        return 0
    now = ctx.clock.now()
    current = {c.key: c for c in conditions(ctx, now)}
    sent = _then_send(ctx, partial(_cost_report, ctx, now))
    sent += sum(_then_send(ctx, partial(_fire, ctx, c, now)) for c in current.values())
    with ctx.db.session() as session:
        firing = session.scalars(select(OpsAlert.key).where(OpsAlert.firing.is_(True))).all()
    sent += sum(
        _then_send(ctx, partial(_recover, ctx, key, now)) for key in firing if key not in current
    )
    return sent


def conditions(ctx: Context, now: datetime) -> list[Condition]:
    """Everything wrong right now, each under its key."""
    return [
        *_heartbeats(ctx, now),
        *_lag(ctx, now),
        *_failures(ctx, now),
        *_networks_down(ctx, now),
        *_tokens(ctx, now),
        *_budgets(ctx, now),
        *_cost(ctx, now),
        *_bursts(ctx, now),
    ]


# --- telling the channel, once ---------------------------------------------------------------


def _fire(ctx: Context, condition: Condition, now: datetime) -> int:
    repeat_before = now - timedelta(seconds=ctx.settings.alert_repeat_seconds)
    try:
        with ctx.tx() as tx:
            row = tx.session.scalar(select(OpsAlert).where(OpsAlert.key == condition.key))
            if row is None:
                tx.session.add(
                    OpsAlert(
                        key=condition.key,
                        title=condition.title,
                        firing=True,
                        fired_at=now,
                        last_sent_at=now,
                    )
                )
                tx.session.flush()  # a second evaluator's INSERT fails here, not after
                _tell(ctx, tx, f"🚨 {condition.title}: {condition.detail}")
                return 1
            if not row.firing:
                claimed = _claim(
                    tx,
                    condition.key,
                    OpsAlert.firing.is_(False),
                    firing=True,
                    fired_at=now,
                    last_sent_at=now,
                    resolved_at=None,
                    title=condition.title,
                )
                if claimed:
                    _tell(ctx, tx, f"🚨 {condition.title}: {condition.detail}")
                return int(claimed)
            if row.last_sent_at > repeat_before:
                return 0
            claimed = _claim(
                tx,
                condition.key,
                OpsAlert.firing.is_(True) & (OpsAlert.last_sent_at == row.last_sent_at),
                last_sent_at=now,
            )
            if claimed:
                since = _when(ctx, row.fired_at, now)
                _tell(ctx, tx, f"🚨 Still, since {since}: {condition.title}: {condition.detail}")
            return int(claimed)
    except IntegrityError:  # another evaluator raised this key first: it told the channel
        return 0


def _recover(ctx: Context, key: str, now: datetime) -> int:
    with ctx.tx() as tx:
        row = tx.session.scalar(select(OpsAlert).where(OpsAlert.key == key))
        if row is None or not _claim(
            tx, key, OpsAlert.firing.is_(True), firing=False, resolved_at=now
        ):
            return 0
        lasted = _duration(now - row.fired_at)
        _tell(ctx, tx, f"✅ Recovered after {lasted}: {row.title}")
        return 1


def _claim(tx: Tx, key: str, expected: object, **values: object) -> bool:
    """One conditional UPDATE: True when this evaluator made the change."""
    moved = tx.session.execute(
        update(OpsAlert).where((OpsAlert.key == key) & expected).values(**values)
    )
    return bool(moved.rowcount)  # type: ignore[attr-defined]  # a CursorResult for an UPDATE


def _tell(ctx: Context, tx: Tx, text: str) -> None:
    """Write the message for the ops channel in the alert's own transaction; it is sent by
    `evaluate` itself once committed, not by a deliver job: the alert may be that no worker
    lives to run one."""
    channel = ctx.settings.ops_channel
    assert channel is not None
    surface, *where = channel.split(":")
    kind = SurfaceKind(surface)
    team, conversation = (where[0], where[1]) if kind == SurfaceKind.SLACK else (where[0], where[0])
    workspace = tx.session.scalar(
        select(Workspace).where(Workspace.kind == kind, Workspace.external_id == team)
    )
    if workspace is None:
        workspace = Workspace(kind=kind, external_id=team, name="Herald operations")
        tx.session.add(workspace)
        tx.session.flush()
    row = OutboundMessage(
        workspace_id=workspace.id,
        conversation=conversation,
        payload=Message(text=text).to_payload(),
        created_at=tx.now,
    )
    tx.session.add(row)
    tx.session.flush()
    _TOLD.get().append(row.id)


def _then_send(ctx: Context, change: Callable[[], int]) -> int:
    """Make one change (its own transaction), then send the messages it wrote."""
    token = _TOLD.set([])
    try:
        made = change()
        for message_id in _TOLD.get():
            _send(ctx, message_id)
    finally:
        _TOLD.reset(token)
    return made


def _send(ctx: Context, message_id: int) -> None:
    try:
        delivery.deliver(ctx, message_id)
    except Exception as exc:  # noqa: BLE001 - the sweeper sends what is left undelivered
        log.warning("ops alert %s not sent yet: %s", message_id, type(exc).__name__)


def _when(ctx: Context, instant: datetime, now: datetime) -> str:
    return format_when(instant, ZoneInfo(ctx.settings.timezone), now=now)


def _duration(span: timedelta) -> str:
    minutes = int(span.total_seconds() // 60)
    if minutes < 1:
        return "less than a minute"
    if minutes < 120:
        return f"{minutes} min"
    if minutes < 48 * 60:
        return f"{minutes // 60} h {minutes % 60} min"
    return f"{minutes // (24 * 60)} days"


# --- the conditions --------------------------------------------------------------------------


def _heartbeats(ctx: Context, now: datetime) -> Iterator[Condition]:
    stale = ctx.settings.heartbeat_stale_seconds
    processes = seen(ctx.db)
    for kind in Kind:
        mine = [p for p in processes if p.kind == kind]
        if any(p.fresh(now, stale) for p in mine):
            continue
        last = f"the last beat was {_when(ctx, mine[0].beat_at, now)}" if mine else "none ran"
        command = "herald worker" if kind == Kind.WORKER else "herald scheduler"
        yield Condition(
            f"heartbeat:{kind}",
            f"No {kind} alive",
            f"{last}, so no post is "
            f"{'published' if kind == Kind.WORKER else 'claimed when due'}. "
            f"Start `{command}` (or see why it stopped in its log).",
        )


def _lag(ctx: Context, now: datetime) -> Iterator[Condition]:
    limit = ctx.settings.alert_lag_seconds
    with ctx.db.session() as session:
        waiting = backlog(session, now)
    if waiting.oldest_seconds > limit:
        oldest = now - timedelta(seconds=waiting.oldest_seconds)
        yield Condition(
            "queue-lag",
            f"Posts wait more than {limit:,.0f} s to go out",
            f"the oldest has waited {_duration(now - oldest)} "
            f"(due {_when(ctx, oldest, now)}). Check the workers (`herald status`) and Redis.",
        )


def _failures(ctx: Context, now: datetime) -> Iterator[Condition]:
    settings = ctx.settings
    since = now - timedelta(seconds=settings.alert_window_seconds)
    with ctx.db.session() as session:
        counts = outcomes_by_network(session, since)
    window = _duration(timedelta(seconds=settings.alert_window_seconds))
    for network, c in sorted(counts.items()):
        failed = c.get(TargetState.FAILED, 0)
        total = failed + c.get(TargetState.PUBLISHED, 0)
        if failed >= settings.alert_min_failures and failed / total >= settings.alert_failure_rate:
            yield Condition(
                f"failures:{network}",
                f"Publishing to {network} fails",
                f"{failed:,} of {total:,} posts failed in the last {window} "
                f"({failed / total:.0%}). Their cards say why; `herald status` lists them.",
            )


def _networks_down(ctx: Context, now: datetime) -> Iterator[Condition]:
    """A network whose every attempt failed (429s, 5xx, timeouts) for a long while."""
    span = timedelta(seconds=ctx.settings.alert_network_down_seconds)
    with ctx.db.session() as session:
        rows = session.execute(
            select(Target.network, PublishAttempt.state, func.count())
            .join(Target, Target.id == PublishAttempt.target_id)
            .where(PublishAttempt.started_at >= now - span)
            .group_by(Target.network, PublishAttempt.state)
        ).all()
    counts: dict[str, dict[str, int]] = {}
    for network, state, n in rows:
        counts.setdefault(network, {})[str(state)] = int(n)
    for network, c in sorted(counts.items()):
        bad = c.get(AttemptState.FAILED, 0) + c.get(AttemptState.UNKNOWN, 0)
        if bad >= ctx.settings.alert_min_failures and not c.get(AttemptState.SUCCEEDED, 0):
            yield Condition(
                f"network-down:{network}",
                f"{network} answers nothing but errors",
                f"none of the last {bad:,} attempts in {_duration(span)} succeeded (rate "
                "limits, server errors or timeouts). Herald retries on its own; check the "
                "network's status page.",
            )


def _tokens(ctx: Context, now: datetime) -> Iterator[Condition]:
    soon = now + timedelta(days=ctx.settings.alert_token_days)
    with ctx.db.session() as session:
        rows = session.execute(
            select(ConnectedAccount, Workspace.name)
            .join(Workspace, Workspace.id == ConnectedAccount.workspace_id)
            .where(ConnectedAccount.expires_at <= soon, ConnectedAccount.status == "ok")
            .order_by(ConnectedAccount.expires_at)
        ).all()
    for account, workspace in rows:
        assert account.expires_at is not None
        verb = "expired" if account.expires_at <= now else "expires"
        yield Condition(
            f"token:{account.id}",
            f"{workspace}: the {account.network} token of {account.display_name} {verb} soon",
            f"it {verb} {_when(ctx, account.expires_at, now)}. An admin of {workspace} "
            "reconnects it with `connect`.",
        )


def _budgets(ctx: Context, now: datetime) -> Iterator[Condition]:
    with ctx.db.session() as session:
        spent = dict(
            session.execute(
                select(LlmUsage.workspace_id, func.sum(LlmUsage.cost_usd))
                .where(LlmUsage.created_at >= month_start(now))
                .group_by(LlmUsage.workspace_id)
            ).all()
        )
        workspaces = session.scalars(select(Workspace).where(Workspace.id.in_(spent))).all()
        for ws in workspaces:
            budget = budget_of(ctx.settings, ws)
            used = float(spent[ws.id] or 0.0)
            if budget <= 0:
                continue
            for level in BUDGET_LEVELS:
                if used >= budget * level:
                    yield Condition(
                        f"llm-budget:{ws.id}:{level:.0%}",
                        f"{ws.name} used {level:.0%} of its model budget",
                        f"${used:,.2f} of ${budget:,.2f} this month"
                        + (
                            "; drafting falls back to templates until the month ends."
                            if level >= 1
                            else "."
                        ),
                    )


_BURSTS = {
    Counted.REJECTED_SIGNATURE: (
        "webhook requests were refused for their signature",
        "Someone other than Slack or Telegram is calling Herald's webhooks, or a signing "
        "secret changed: check HERALD_SLACK_SIGNING_SECRET and HERALD_TELEGRAM_WEBHOOK_SECRET.",
    ),
    Counted.DENIED: (
        "commands were refused for the person's role",
        "Someone is trying what their role does not allow: `role` shows who may do what.",
    ),
}


def _bursts(ctx: Context, now: datetime) -> Iterator[Condition]:
    span = timedelta(seconds=ctx.settings.alert_burst_seconds)
    counts = since(ctx.db, now - span)
    for kind, (what, advice) in _BURSTS.items():
        n = counts.get(kind, 0)
        if n >= ctx.settings.alert_burst_count:
            yield Condition(
                f"burst:{kind}",
                f"A burst of refusals: {what}",
                f"{n:,} in the last {_duration(span)}. {advice}",
            )


def _cost(ctx: Context, now: datetime) -> Iterator[Condition]:
    limit = ctx.settings.cost_alert_per_user_usd
    with ctx.db.session() as session:
        cost = month_cost(ctx.settings, session, now)
    if cost.active and cost.total_per_person > limit:
        yield Condition(
            "cost-per-person",
            f"Herald costs more than ${limit:,.2f} per active person",
            f"${cost.total_per_person:,.2f} so far in {month_name(cost.start)} "
            f"(model ${cost.llm:,.2f}, infrastructure ${cost.infra_total:,.2f}, "
            f"{cost.active:,} active people). `usage` shows each workspace's share.",
        )


# --- the monthly cost report -----------------------------------------------------------------


def _cost_report(ctx: Context, now: datetime) -> int:
    """Last month's cost, told once in the first evaluation of a month. Its `ops_alerts` row
    (never firing) is the mark that it was told: a second evaluator's INSERT fails."""
    last = month_start(month_start(now) - timedelta(days=1))
    key = f"cost-report:{last:%Y-%m}"
    with ctx.db.session() as session:
        if session.scalar(select(OpsAlert.id).where(OpsAlert.key == key)) is not None:
            return 0
        cost = month_cost(ctx.settings, session, last)
    if not cost.active and not cost.llm:
        return 0  # nothing happened that month: nothing to report
    lines = [
        f"📒 Cost for {month_name(last)}: ${cost.infra_total + cost.llm:,.2f} "
        f"(model ${cost.llm:,.2f}, infrastructure ${cost.infra_total:,.2f}), "
        f"{cost.active:,} active {'person' if cost.active == 1 else 'people'}, "
        f"${cost.total_per_person:,.2f} a person"
    ]
    lines += [
        f"• {s.workspace}: {s.active:,} active, model ${s.llm:,.2f}, "
        f"infrastructure ≈ ${s.infra:,.2f}"
        for s in sorted(cost.shares, key=lambda s: -s.total)
    ]
    try:
        with ctx.tx() as tx:
            tx.session.add(
                OpsAlert(key=key, title=lines[0], firing=False, fired_at=now, last_sent_at=now)
            )
            tx.session.flush()
            _tell(ctx, tx, "\n".join(lines))
    except IntegrityError:
        return 0
    return 1
