"""The one job registry: every job's name, the queue it runs on, and the after-commit list.

Names are the Celery task names, kept as they were so jobs already queued still route. Core
sends jobs by name through the `JobQueue` port and never imports Celery; `workers/` registers
one task per name here, each calling its feature's job function.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum

from core.ports import JobQueue


class Job(StrEnum):
    GENERATE = "herald.generate_post"  # core/posts/jobs.py
    DISPATCH = "herald.dispatch_due"  # core/scheduling/jobs.py
    PUBLISH = "herald.publish_target"  # core/publishing/jobs.py
    RECONCILE = "herald.reconcile_target"  # core/publishing/reconcile.py
    DELIVER = "herald.deliver_message"  # core/messaging/delivery.py
    RUN_INBOUND = "herald.run_inbound"  # core/messaging/inbox.py
    SWEEP = "herald.sweep"  # core/maintenance/jobs.py
    CHECK_ACCOUNTS = "herald.check_accounts"  # core/accounts.py
    DIGEST = "herald.send_digests"  # core/analytics/digest.py
    COLLECT = "herald.collect_figures"  # core/analytics/jobs.py
    DEADLINES = "herald.watch_deadlines"  # core/approvals/deadlines.py
    OPS_ALERTS = "herald.ops_alerts"  # core/operations/alerts.py
    PRUNE_AUDIT = "herald.prune_audit"  # core/auditlog/jobs.py


class Lane(StrEnum):
    """Each kind of work has a queue of its own, so a flood of one never holds back another:
    two hundred drafts waiting for a model do not delay a post that is due."""

    PUBLISH = "publish"
    DELIVER = "deliver"
    GENERATE = "generate"
    MAINTAIN = "maintain"
    ANALYTICS = "analytics"


LANE: dict[Job, Lane] = {
    Job.GENERATE: Lane.GENERATE,
    # The tick is on the publishing path: behind a flood of drafts, no post would be claimed.
    Job.DISPATCH: Lane.PUBLISH,
    Job.PUBLISH: Lane.PUBLISH,
    Job.RECONCILE: Lane.PUBLISH,
    # Chat traffic both ways: answers to people, and the commands they sent from Slack.
    Job.DELIVER: Lane.DELIVER,
    Job.RUN_INBOUND: Lane.DELIVER,
    Job.SWEEP: Lane.MAINTAIN,
    Job.CHECK_ACCOUNTS: Lane.MAINTAIN,
    Job.DIGEST: Lane.MAINTAIN,
    Job.DEADLINES: Lane.MAINTAIN,
    Job.OPS_ALERTS: Lane.MAINTAIN,
    Job.PRUNE_AUDIT: Lane.MAINTAIN,
    # Reading figures back calls the networks (up to their timeouts) for thousands of posts a
    # day: on a lane of its own it never holds back a post, a chat answer or the sweeper that
    # recovers lost publish jobs, and an operator can give it workers of its own or none.
    Job.COLLECT: Lane.ANALYTICS,
}


@dataclass(frozen=True)
class Later:
    """One job to send once the transaction that asked for it has committed."""

    job: str
    args: tuple[int, ...]
    countdown: float | None = None


@dataclass
class AfterCommit:
    """The jobs a transaction asks for, each once, sent in order after its commit: a worker
    never sees a job before the rows it names."""

    pending: list[Later] = field(default_factory=list)

    def add(self, job: str, *args: int, countdown: float | None = None) -> None:
        later = Later(job, args, countdown)
        if later not in self.pending:
            self.pending.append(later)

    def send(self, queue: JobQueue) -> None:
        for later in self.pending:
            queue.enqueue(later.job, *later.args, countdown=later.countdown)
