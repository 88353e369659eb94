"""The backlog as CloudWatch embedded-metric-format lines (bot/emf.py): what the AWS deployment
scales its workers and raises its queue-lag alarm on (infra/terraform/ecs.tf, observe.tf)."""

from __future__ import annotations

import io
import json
from datetime import UTC, datetime

from sqlalchemy import select

from bot.emf import EmfReporter, emf_line
from bot.runtime import Runtime
from core.scheduling.queries import Backlog
from storage.models import Post
from tests.support.helpers import actor


def test_a_line_is_what_cloudwatch_extracts() -> None:
    at = datetime(2026, 12, 7, 9, 30, tzinfo=UTC)
    record = json.loads(
        emf_line(
            Backlog(due=7, queued=5, oldest_seconds=42.25),
            namespace="Herald",
            install="herald-prod",
            at=at,
        )
    )
    (directive,) = record["_aws"]["CloudWatchMetrics"]
    assert record["_aws"]["Timestamp"] == 1796635800000
    assert directive["Namespace"] == "Herald" and directive["Dimensions"] == [["Install"]]
    names = {m["Name"] for m in directive["Metrics"]}
    assert names == {"QueueDepth", "QueueLagSeconds"}  # the names ecs.tf and observe.tf read
    assert record["Install"] == "herald-prod"
    assert record["QueueDepth"] == 12 and record["QueueLagSeconds"] == 42.2


def test_the_reporter_counts_a_post_waiting_for_a_worker(idle_runtime: Runtime) -> None:
    rt = idle_runtime
    maria = actor("maria")
    rt.herald.handle(maria, "draft Waiting for a worker --to outbox")
    with rt.db.session() as s:
        post_id = s.scalars(select(Post.id)).one()
    rt.herald.generate(post_id)
    assert "approved" in (rt.herald.handle(maria, "approve 1").text or "")
    out = io.StringIO()
    reporter = EmfReporter(rt, "Herald", out=out)
    reporter.report()
    record = json.loads(out.getvalue().splitlines()[-1])
    assert record["QueueDepth"] == 1  # no worker runs here: it waits
    assert record["Install"] == rt.settings.queue
