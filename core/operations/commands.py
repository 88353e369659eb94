"""`usage`: what this workspace costs this month, for its admins."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from core.operations.cost import COMPONENTS, month_cost, month_name
from core.permissions import Action
from core.posts.card import Message
from core.registry import Request, Spec


@dataclass(frozen=True)
class Usage:
    pass


def usage(req: Request, _command: Usage) -> Message:
    settings = req.ctx.settings
    cost = month_cost(settings, req.tx.session, req.tx.now)
    share = cost.share(req.ws.id)
    active = share.active if share else 0
    llm = share.llm if share else 0.0
    infra = share.infra if share else 0.0
    budget = share.budget if share else 0.0
    people = f"{active:,} active {'person' if active == 1 else 'people'}"
    lines = [
        f"Usage in {month_name(cost.start)} so far: {people} (of {cost.active:,} on this Herald)",
        f"Model: ${llm:,.2f}"
        + (f" of ${budget:,.2f} budget ({llm / budget:.0%})" if budget else " (no budget)"),
    ]
    if cost.infra_total:
        parts = ", ".join(
            f"{c} ${settings.infra_monthly_usd[c]:,.2f}"
            for c in COMPONENTS
            if settings.infra_monthly_usd.get(c)
        )
        lines.append(
            f"Infrastructure ≈ ${infra:,.2f} ({active:,} × ${cost.per_person:,.2f} a person; "
            f"the whole Herald costs ${cost.infra_total:,.2f} a month: {parts})"
        )
    else:
        lines.append("Infrastructure: not set (HERALD_INFRA_MONTHLY_USD)")
    total = llm + infra
    each = f", ${total / active:,.2f} a person" if active else ""
    lines.append(f"Total ≈ ${total:,.2f}{each}")
    return Message(text="\n".join(lines))


COMMANDS: tuple[Spec[Any], ...] = (
    Spec(
        name="usage",
        kind=Usage,
        usage="usage",
        summary="what this workspace costs this month",
        detail=(
            "Model spend against the budget, active people, and this workspace's share of "
            "what the deployment costs (admins)."
        ),
        parse=lambda _: Usage(),
        handle=usage,
        permission=Action.CONFIGURE,
    ),
)
