"""The publish job: commit the attempt as `publishing`, then call the network exactly once.

Safe to run twice: a target no longer `queued` was taken by another delivery of the job; an
`unknown` one goes to reconciliation instead of being posted again.
"""

from __future__ import annotations

import logging

from core import metrics
from core.context import Context, Tx, run_tx
from core.errors import CannotCheck, Duplicate, PublishError
from core.jobs import Job
from core.logcontext import bound
from core.networks import get_network
from core.ports import Published, Publisher, PublishRequest
from core.posts.lifecycle import move
from core.publishing import attempts
from core.publishing.outcomes import ask_person, record_failure, record_success
from storage.models import TargetState

log = logging.getLogger(__name__)
T = TargetState


def publish(ctx: Context, target_id: int) -> None:
    """Commit the attempt as `publishing`, then call the network once."""
    request = run_tx(ctx, lambda tx: _start(tx, target_id))
    if request is not None:
        with bound(
            workspace=request.workspace,
            post=request.post_number,
            target=request.target_id,
            network=request.network,
        ):
            call_network(ctx, request)


def _start(tx: Tx, target_id: int) -> PublishRequest | None:
    loaded = attempts.load_unless_paused(tx, target_id)
    if loaded is None:
        return None
    target, paused = loaded
    if target.state == T.UNKNOWN:
        tx.later(Job.RECONCILE, target.id)
        return None
    if target.state != T.QUEUED:
        return None  # already taken by another delivery of this task
    if paused:
        # Claimed before the pause: back to `scheduled`, released when the pause ends.
        ws_id = target.post.workspace_id
        move(tx.session, target, "defer", now=tx.now, workspace_id=ws_id, detail={"paused": True})
        return None
    return attempts.begin(tx, target, "start")


def call_network(ctx: Context, request: PublishRequest) -> None:
    """The one network call of an attempt already committed as `publishing`, and its outcome."""
    publisher = ctx.publishers.get(request.network)
    try:
        if publisher is None:
            raise PublishError(f"{get_network(request.network).display} is not connected any more")
        with metrics.calling(request.network):
            result = publisher.publish(request)
    except Duplicate as exc:
        # Refused as a repeat: of our own earlier attempt, if the account has this text since
        # that attempt began. Confirmed by looking it up, never assumed.
        try:
            found = _confirm_duplicate(ctx, publisher, request)
        except CannotCheck as cannot:
            ask_person(ctx, request.target_id, cannot.reason)
            return
        if found is None:
            record_failure(ctx, request.target_id, exc)
        else:
            record_success(ctx, request.target_id, found)
    except PublishError as exc:
        record_failure(ctx, request.target_id, exc)
    except Exception as exc:  # the call may have reached the network: reconcile, never repost
        log.exception("publish of target %s ended in an unexpected error", request.target_id)
        record_failure(ctx, request.target_id, exc)
    else:
        record_success(ctx, request.target_id, result)


def _confirm_duplicate(
    ctx: Context, publisher: Publisher | None, request: PublishRequest
) -> Published | None:
    if publisher is None:
        return None
    with ctx.tx() as tx:
        request = attempts.looking_back(tx, request.target_id, request)
    try:
        with metrics.calling(request.network):
            found: Published | None = publisher.find(request)
    except CannotCheck:
        raise
    except Exception:
        log.exception("could not confirm the duplicate refusal of target %s", request.target_id)
        return None
    return found
