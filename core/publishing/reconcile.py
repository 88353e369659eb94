"""Reconciliation: settle a target whose last attempt ended without an answer.

The network is asked whether the post exists (its recent timeline, a content hash, or an
idempotency key); found, the target is published; not found, it is posted again, up to
HERALD_MAX_PUBLISH_ATTEMPTS; a network that can't be asked leaves the question to a person.
"""

from __future__ import annotations

import dataclasses
import logging

from core import metrics
from core.context import Context
from core.errors import CannotCheck
from core.jobs import Job
from core.publishing import attempts
from core.publishing.jobs import call_network
from core.publishing.outcomes import ask_person, fail, record_success
from storage.models import Target, TargetState

log = logging.getLogger(__name__)
T = TargetState


def reconcile(ctx: Context, target_id: int) -> None:
    """Settle a target whose last attempt ended without an answer: found, or post again."""
    with ctx.tx() as tx:
        target = tx.session.get(Target, target_id)
        if target is None or target.state != T.UNKNOWN:
            return
        request = attempts.looking_back(tx, target.id, attempts.request_for(target))
        tries = target.attempts
    publisher = ctx.publishers.get(request.network)
    counted = metrics.RECONCILIATIONS.labels
    try:
        with metrics.calling(request.network):
            found = publisher.find(request) if publisher is not None else None
    except CannotCheck as exc:
        counted(request.network, "asked").inc()
        ask_person(ctx, target_id, exc.reason)
        return
    except Exception:
        counted(request.network, "lookup_failed").inc()
        log.exception("reconciliation lookup failed for target %s", target_id)
        with ctx.tx() as tx:
            target = tx.session.get(Target, target_id)
            if target is not None and target.state == T.UNKNOWN:
                tx.later(Job.RECONCILE, target.id, countdown=60.0)
        return
    if found is not None:
        counted(request.network, "found").inc()
        record_success(ctx, target_id, found)
        return
    with ctx.tx() as tx:
        target = tx.session.get(Target, target_id)
        if target is None or target.state != T.UNKNOWN or target.attempts != tries:
            return
        if tries >= ctx.settings.max_publish_attempts:
            counted(request.network, "gave_up").inc()
            fail(
                tx,
                target,
                f"gave up after {tries} attempts ({target.failure_reason or 'no answer'})",
            )
            return
        retry = attempts.begin(tx, target, "resume")
    if retry is not None:
        counted(request.network, "reposted").inc()
        # The same look-back, so a thread half out is finished rather than started again.
        call_network(ctx, dataclasses.replace(retry, since=request.since))
