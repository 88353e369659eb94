"""How long the REST API remembers an `Idempotency-Key`'s first answer, and the sweeper's
pruning of older ones.

A key is remembered for at least `KEEP` (a day), until the first sweep after that: a retry
within the day gets the first answer back; a client must not reuse a key after that, as it
may then make a new post.
"""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy import delete, select

from core.context import Context
from storage.models_api import ApiIdempotency

KEEP = timedelta(hours=24)
# Rows deleted per transaction: each delete is short, so it never holds locks for long
# (a busy API writes many keys a day); a backlog goes over a few transactions.
BATCH = 500
# Transactions per sweep at most; what is left goes at the next sweep.
MOST = 20


def forget_old_keys(ctx: Context) -> int:
    """Delete the answers older than `KEEP`, a batch per transaction; how many went."""
    gone = 0
    for _ in range(MOST):
        with ctx.tx() as tx:
            old = (
                select(ApiIdempotency.id)
                .where(ApiIdempotency.created_at < tx.now - KEEP)
                .order_by(ApiIdempotency.id)
                .limit(BATCH)
            )
            ids = list(tx.session.scalars(old))
            if ids:
                tx.session.execute(delete(ApiIdempotency).where(ApiIdempotency.id.in_(ids)))
        gone += len(ids)
        if len(ids) < BATCH:
            break
    return gone
