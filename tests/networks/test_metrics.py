"""/metrics of herald web, read with Prometheus' text parser, moves with real traffic: a
command, a publish to the fake X, a 429 from it. No label carries a post or a user id."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from fastapi.testclient import TestClient

from bot.web.app import create_app
from storage.models import Post, Target
from tests.support.helpers import actor, eventually, messages, post_state, target_states
from tests.support.scrape import Scrape, parse

MARIA = actor("maria")
pytestmark = pytest.mark.network("x", connect=False, x_client_id="herald-client")

# The only label names Herald's metrics use, and prometheus-client's own collectors'.
LABELS = {"route", "method", "status", "kind", "surface", "command", "outcome", "task"}
LABELS |= {"network", "workspace", "lane", "state", "le", "generation"}
LABELS |= {"implementation", "major", "minor", "patchlevel", "version"}


def scrape(web: TestClient) -> Scrape:
    answer = web.get("/metrics")
    assert answer.status_code == 200
    assert answer.headers["content-type"].startswith("text/plain; version=0.0.4")
    return parse(answer.text)


def test_counters_move_with_a_command_a_publish_and_a_429(live, fake) -> None:
    fake.connect(live)
    with TestClient(create_app(live)) as web:
        before = scrape(web)
        assert web.get("/healthz").status_code == 200
        assert web.get("/posts/48213/secret").status_code == 404  # an id in a path

        assert not live.herald.handle(MARIA, "draft Our API is live --to x").error
        eventually(lambda: post_state(live, 1) == "pending_approval", what="the card")
        assert not live.herald.handle(MARIA, "approve 1").error
        eventually(lambda: target_states(live, 1) == {"x": "published"}, what="publish")
        assert live.herald.handle(MARIA, "approve 999").error  # no such post: refused

        reset = int((datetime.now(UTC) + timedelta(minutes=20)).timestamp())
        fake.fail_next(
            "post",
            429,
            {"title": "Too Many Requests", "status": 429},
            x_rate_limit_reset=str(reset),
            x_rate_limit_remaining="0",
        )
        live.herald.handle(MARIA, "draft Second --to x")
        eventually(lambda: post_state(live, 2) == "pending_approval", what="the second card")
        live.herald.handle(MARIA, "approve 2")
        eventually(
            lambda: any("asked us to slow down" in (m.text or "") for m in messages(live)),
            what="deferred",
        )
        # The worker's counters move after the outcome's commit: wait for the task's end.
        runs = {"task": "herald.publish_target", "outcome": "success"}
        eventually(
            lambda: (
                scrape(web).value("herald_task_runs_total", **runs)
                - before.value("herald_task_runs_total", **runs)
                >= 2
            ),
            what="both publish tasks counted",
        )
        after = scrape(web)

    def moved(name: str, **labels: str) -> float:
        return after.total(name, **labels) - before.total(name, **labels)

    assert moved("herald_commands_total", command="draft", outcome="ok") == 2
    assert moved("herald_commands_total", command="approve", outcome="ok") == 2
    assert moved("herald_commands_total", command="approve", outcome="refused") == 1
    assert moved("herald_publishes_total", network="x", outcome="published") == 1
    assert moved("herald_publishes_total", network="x", outcome="rate_limited") == 1
    assert moved("herald_network_responses_total", network="x", status="429") == 1
    assert moved("herald_network_responses_total", network="x", status="2xx") >= 1
    assert moved("herald_publish_delay_seconds_count", network="x") == 1
    assert moved("herald_task_duration_seconds_count", task="herald.publish_target") >= 2
    assert moved("herald_http_request_duration_seconds_count", route="/healthz") == 1
    assert moved("herald_http_request_duration_seconds_count", route="unmatched") == 1
    assert after.value("herald_task_last_success_timestamp_seconds", task="herald.dispatch_due")

    # No label names a post, a target or a person, and no value is one of their ids.
    with live.db.session() as s:
        ids = {str(i) for i in s.scalars(Post.__table__.select().with_only_columns(Post.id))}
        ids |= {str(i) for i in s.scalars(Target.__table__.select().with_only_columns(Target.id))}
        ids |= {str(t.external_id) for t in s.query(Target) if t.external_id}
    for labels in after.labels():
        assert set(labels) <= LABELS, labels
        for key, value in labels.items():
            assert "maria" not in value and "48213" not in value, labels
            if key not in {"le", "workspace", "generation", "version", "major", "minor"}:
                assert value not in ids, labels


def test_backlog_counts_due_posts_and_their_lag(rt, fake) -> None:
    """The process that runs beat exports the backlog; a post approved for the past is due."""
    from bot.metrics import Exported

    fake.connect(rt)
    rt.herald.handle(MARIA, "draft Late one --to x --at now")
    rt.herald.generate(1)
    assert not rt.herald.handle(MARIA, "approve 1").error
    with rt.db.session() as s:
        target = s.query(Target).one()
        target.scheduled_at = datetime.now(UTC) - timedelta(seconds=90)
    got = parse(Exported(rt).text().decode())
    assert got.value("herald_publish_backlog", state="due") == 1
    assert got.value("herald_publish_backlog", state="queued") == 0
    assert 85 <= got.value("herald_publish_lag_seconds") < 300
    rt.herald.dispatch_due()  # claimed: queued, still waiting for a worker
    got = parse(Exported(rt).text().decode())
    assert got.value("herald_publish_backlog", state="queued") == 1
    if not rt.settings.embedded:  # the job waits in Redis' publish lane
        assert got.value("herald_queue_depth", lane="publish") >= 1
