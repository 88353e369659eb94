"""How long the REST API remembers an `Idempotency-Key`'s first answer, and the sweeper's
pruning of older ones.

A key is remembered for at least `KEEP` (a day), until the first sweep after that: a retry
within the day gets the first answer back; a client must not reuse a key after that, as it
may then make a new post.
"""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy import delete

from core.context import Context
from storage.models_api import ApiIdempotency

KEEP = timedelta(hours=24)


def forget_old_keys(ctx: Context) -> int:
    """Delete the answers older than `KEEP` (one indexed range, as the sweeper drops old
    inbound events and files); how many went."""
    with ctx.tx() as tx:
        gone = tx.session.execute(
            delete(ApiIdempotency).where(ApiIdempotency.created_at < tx.now - KEEP)
        )
        return int(gone.rowcount)  # type: ignore[attr-defined]
