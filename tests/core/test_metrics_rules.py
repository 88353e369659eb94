"""The Prometheus rules, the alerts and the Grafana dashboard read only metrics that exist:
every `herald_*` name in an expression is in what /metrics exposes, every `herald:*` name is
recorded by a rule. `promtool check rules` runs too when it is installed."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
from pathlib import Path

import pytest
import yaml

from bot.metrics import Exported
from tests.support.scrape import parse

ROOT = Path(__file__).resolve().parents[2]
RULES = sorted((ROOT / "infra" / "prometheus").glob("*.rules.yml"))
DASHBOARD = ROOT / "infra" / "grafana" / "herald.json"
METRIC = re.compile(r"\bherald_[a-z0-9_]+")
RECORDED = re.compile(r"\bherald:[a-z0-9_:]+")


def rules() -> list[dict[str, object]]:
    found: list[dict[str, object]] = []
    for path in RULES:
        for group in yaml.safe_load(path.read_text())["groups"]:
            assert group["name"] and group["rules"], path
            found.extend(group["rules"])
    return found


def expressions() -> list[str]:
    exprs = [str(rule["expr"]) for rule in rules()]
    panels = json.loads(DASHBOARD.read_text())["panels"]
    exprs += [target["expr"] for panel in panels for target in panel["targets"]]
    return exprs


def test_every_expression_reads_a_metric_herald_exposes(idle_runtime) -> None:
    assert len(RULES) == 2
    exposed = parse(Exported(idle_runtime).text().decode()).names
    recorded = {str(rule["record"]) for rule in rules() if "record" in rule}
    for expr in expressions():
        for name in METRIC.findall(expr):
            assert name in exposed, f"{name} in {expr!r} is not in /metrics"
        for name in RECORDED.findall(expr):
            assert name in recorded, f"{name} in {expr!r} is recorded by no rule"


def test_alerts_say_what_to_do_and_slos_have_burn_rate_pairs() -> None:
    alerts = [rule for rule in rules() if "alert" in rule]
    names = {str(rule["alert"]) for rule in alerts}
    for rule in alerts:
        assert rule["labels"]["severity"] in {"page", "ticket"}, rule  # type: ignore[index]
        assert rule["annotations"]["summary"], rule  # type: ignore[index]
        assert rule["annotations"]["description"], rule  # type: ignore[index]
    for slo in ("Ack", "OnTime", "Error", "Availability"):
        assert {f"Herald{slo}SLOBurnFast", f"Herald{slo}SLOBurnSlow"} <= names
    wanted = {"HeraldPublishFailing", "HeraldQueueLag", "HeraldNoWorker", "HeraldNoScheduler"}
    wanted |= {"HeraldNetworkThrottling", "HeraldRejectedSignatures", "HeraldDeniedActions"}
    assert wanted <= names


@pytest.mark.skipif(shutil.which("promtool") is None, reason="promtool is not installed")
def test_promtool_accepts_the_rules() -> None:  # pragma: no cover - where promtool exists
    done = subprocess.run(
        ["promtool", "check", "rules", *map(str, RULES)],
        capture_output=True,
        text=True,
        check=False,
    )
    assert done.returncode == 0, done.stdout + done.stderr
