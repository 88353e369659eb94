"""Herald's Prometheus metrics: every series any process exports, declared once, here.

The objects are prometheus-client metrics in its default registry: declaring them only makes
empty counters in memory (nothing is served or connected at import; `bot/metrics.py` serves
them). Each Herald process is one Python process (Celery's threads pool, one uvicorn process),
so each serves its own registry on its own port and no multiprocess mode is needed.

Labels are bounded: route templates, command names, task names, network keys, outcome words.
No post, target, message or user id is ever a label. A workspace is a label only on LLM spend,
through `workspace_label`, which names at most `HERALD_METRICS_MAX_WORKSPACES` workspaces per
process and counts the rest as "other".
"""

from __future__ import annotations

import contextvars
import threading
from collections.abc import Iterator
from contextlib import contextmanager

from prometheus_client import Counter, Gauge, Histogram

# Latency buckets: fine below 100 ms (the ack SLO), coarse above.
FAST = (0.005, 0.01, 0.025, 0.05, 0.075, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)
# How late a post went out after its scheduled instant. 7 s is the default tick (5 s) + 2 s:
# the "on time" SLO reads that bucket (see infra/prometheus/herald-slo.rules.yml).
LATE = (1.0, 2.0, 3.0, 5.0, 7.0, 10.0, 15.0, 30.0, 60.0, 120.0, 300.0, 900.0, 3600.0)
TASK = (0.01, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 120.0, 300.0)

HTTP_SECONDS = Histogram(
    "herald_http_request_duration_seconds",
    "Time herald web took to answer, by route template, method and status class.",
    ["route", "method", "status"],
    buckets=FAST,
)
ACK_SECONDS = Histogram(
    "herald_slack_ack_duration_seconds",
    "Time from a Slack request's arrival to its ack, by kind (command, action, event...).",
    ["kind"],
    buckets=FAST,
)
REJECTED_REQUESTS = Counter(
    "herald_rejected_requests_total",
    "Requests refused for a missing or wrong signature or secret, by surface.",
    ["surface"],
)
COMMANDS = Counter(
    "herald_commands_total",
    "Chat commands run, by command and outcome (ok, refused, denied, unavailable, error).",
    ["command", "outcome"],
)
TASK_SECONDS = Histogram(
    "herald_task_duration_seconds",
    "Celery task run time, by task.",
    ["task"],
    buckets=TASK,
)
TASK_RUNS = Counter(
    "herald_task_runs_total",
    "Celery tasks finished, by task and outcome (success, failure, retry).",
    ["task", "outcome"],
)
TASK_LAST_SUCCESS = Gauge(
    "herald_task_last_success_timestamp_seconds",
    "Unix time a task last finished well in this process: herald.dispatch_due is the tick.",
    ["task"],
)
PUBLISHES = Counter(
    "herald_publishes_total",
    "Publish attempts ended, by network and outcome "
    "(published, rate_limited, token_expired, rejected, unknown, not_sent, asked).",
    ["network", "outcome"],
)
PUBLISH_DELAY = Histogram(
    "herald_publish_delay_seconds",
    "How long after its scheduled instant a post was confirmed published, by network.",
    ["network"],
    buckets=LATE,
)
RECONCILIATIONS = Counter(
    "herald_reconciliations_total",
    "Reconciliations of unclear attempts, by network and outcome "
    "(found, reposted, gave_up, asked, lookup_failed).",
    ["network", "outcome"],
)
NETWORK_RESPONSES = Counter(
    "herald_network_responses_total",
    "Answers from the networks' APIs, by network and status (2xx, 3xx, 4xx, 429, 5xx).",
    ["network", "status"],
)
DELIVERIES = Counter(
    "herald_chat_deliveries_total",
    "Chat messages pushed to Slack or Telegram, by surface and outcome (delivered, retry, error).",
    ["surface", "outcome"],
)
LLM_TOKENS = Counter(
    "herald_llm_tokens_total",
    "Model tokens used, by workspace (bounded, see docs) and kind (prompt, completion).",
    ["workspace", "kind"],
)
LLM_COST = Counter(
    "herald_llm_cost_usd_total",
    "Model spend in USD at HERALD_LLM_PRICES, by workspace (bounded, see docs).",
    ["workspace"],
)
SNAPSHOTS = Counter(
    "herald_snapshots_total",
    "Figures snapshots stored from the networks, by network.",
    ["network"],
)
SNAPSHOT_READS = Counter(
    "herald_snapshot_reads_total",
    "Figures reads (one network call for a batch), by network and outcome "
    "(ok, rate_limited, token_expired, failed).",
    ["network", "outcome"],
)

# The network whose API the current code is calling: set around a publish, a lookup or a
# figures read, read by the HTTP client's response hook (core/platforms/http.py).
_network: contextvars.ContextVar[str] = contextvars.ContextVar("network", default="other")


@contextmanager
def calling(network: str) -> Iterator[None]:
    token = _network.set(network)
    try:
        yield
    finally:
        _network.reset(token)


def network_answered(status: int) -> None:
    """Count one API answer of the network being called, by status class (429 on its own)."""
    word = "429" if status == 429 else f"{min(max(status // 100, 1), 5)}xx"
    NETWORK_RESPONSES.labels(_network.get(), word).inc()


class WorkspaceLabels:
    """At most `limit` workspace labels per process; later workspaces share "other".

    A workspace is an install's tenant: a handful for a team, a few thousand for a host. The
    first `limit` seen keep their id; the total stays right, and `other` carries the rest.
    """

    def __init__(self, limit: int) -> None:
        self.limit = limit
        self._named: set[int] = set()
        self._lock = threading.Lock()

    def __call__(self, workspace_id: int) -> str:
        with self._lock:
            if workspace_id in self._named:
                return str(workspace_id)
            if len(self._named) < self.limit:
                self._named.add(workspace_id)
                return str(workspace_id)
        return "other"


_workspaces: WorkspaceLabels | None = None


def workspace_label(workspace_id: int, limit: int) -> str:
    """The label of a workspace: its id while this process has named fewer than `limit`."""
    global _workspaces
    if _workspaces is None or _workspaces.limit != limit:
        _workspaces = WorkspaceLabels(limit)
    return _workspaces(workspace_id)
