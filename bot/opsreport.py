"""`herald status` as text: the same checks as /readyz, then the figures behind them."""

from __future__ import annotations

from datetime import datetime
from zoneinfo import ZoneInfo

from core.operations.status import Status
from core.timeparse import format_when


def render_status(report: Status, zone: str) -> str:
    def when(at: datetime) -> str:
        return format_when(at, ZoneInfo(zone), now=report.now)

    lines = [f"Herald is {'ready' if report.ready else 'NOT ready'} · {when(report.now)}"]
    lines += [f"  {'ok ' if c.ok else 'BAD'} {c.name}: {c.detail}" for c in report.checks]
    lines.append("Processes seen:")
    if not report.processes:
        lines.append("  none")
    for p in report.processes:
        age = (report.now - p.beat_at).total_seconds()
        lines.append(
            f"  {p.kind} {p.name} (pid {p.pid}): last beat {age:,.0f} s ago, "
            f"up since {when(p.started_at)}"
        )
    lines.append(
        f"Queue: {report.due:,} due or queued, the oldest waiting {report.lag_seconds:,.0f} s"
    )
    lines.append("Failures in the last 24 h:")
    if not report.failing:
        lines.append("  none")
    for f in report.failing:
        total = f.failed + f.published
        lines.append(f"  {f.network}: {f.failed:,} of {total:,} failed ({f.failed / total:.0%})")
    lines.append("Accounts expiring within 7 days or refused:")
    if not report.expiring:
        lines.append("  none")
    for e in report.expiring:
        state = f"expires {when(e.expires_at)}" if e.expires_at else "refused: reconnect"
        lines.append(f"  {e.workspace} · {e.network} {e.account}: {state}")
    lines.append("Model spend this month:")
    if not report.budgets:
        lines.append("  none")
    for b in report.budgets:
        of = f" of ${b.budget:,.2f} ({b.spent / b.budget:.0%})" if b.budget else " (no limit)"
        lines.append(f"  {b.workspace}: ${b.spent:,.2f}{of}")
    return "\n".join(lines)
