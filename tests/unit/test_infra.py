"""The deployment files checked without AWS or Docker (issue 17, item 6): the Terraform parses
and holds what the deployment promises, the compose file is valid Compose and runs every role,
the cost tables in the README are the ones `infra/terraform/cost.py` computes. `.ci/run` also
runs checkov and hadolint on them, and `terraform fmt`."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import hcl2
import jsonschema
import pytest
import yaml

ROOT = Path(__file__).resolve().parents[2]
TF = ROOT / "infra" / "terraform"
ROLES = ("web", "worker", "scheduler", "slack", "telegram")


def _clean(value: Any) -> Any:
    """python-hcl2 keeps HCL's quotes on names and strings, and marks blocks: drop both."""
    if isinstance(value, dict):
        return {_clean(k): _clean(v) for k, v in value.items() if not str(k).startswith("__")}
    if isinstance(value, list):
        return [_clean(v) for v in value]
    if isinstance(value, str) and len(value) >= 2 and value[0] == value[-1] == '"':
        return value[1:-1]
    return value


def _terraform() -> dict[str, list[dict[str, Any]]]:
    merged: dict[str, list[dict[str, Any]]] = {}
    for path in sorted(TF.glob("*.tf")):
        with path.open() as handle:
            for key, blocks in _clean(hcl2.load(handle)).items():
                merged.setdefault(key, []).extend(blocks)
    return merged


def _resources(kind: str) -> dict[str, dict[str, Any]]:
    found: dict[str, dict[str, Any]] = {}
    for block in _terraform().get("resource", []):
        for name, body in block.get(kind, {}).items():
            found[name] = body
    return found


def _value(body: dict[str, Any], key: str) -> Any:
    value = body[key]
    return value[0] if isinstance(value, list) and len(value) == 1 else value


def test_every_file_parses_and_every_variable_is_described() -> None:
    tf = _terraform()
    assert len(list(TF.glob("*.tf"))) >= 8
    for block in tf["variable"]:
        for name, body in block.items():
            assert body.get("description") or name in {
                "vpc_cidr",
                "db_instance_class",
                "redis_node_type",
                "environment",
            }


def test_the_data_is_encrypted_private_and_survives_a_zone() -> None:
    db = _resources("aws_db_instance")["main"]
    assert db["multi_az"] is True and db["storage_encrypted"] is True
    assert db["publicly_accessible"] is False and db["deletion_protection"] is True
    assert "backup_retention_period" in db  # point-in-time recovery spans the backups
    redis = _resources("aws_elasticache_replication_group")["main"]
    assert redis["transit_encryption_enabled"] is True
    assert redis["at_rest_encryption_enabled"] is True
    assert redis["automatic_failover_enabled"] is True and redis["multi_az_enabled"] is True
    assert "auth_token" in redis
    block = _resources("aws_s3_bucket_public_access_block")["media"]
    assert all(
        block[k] is True
        for k in (
            "block_public_acls",
            "block_public_policy",
            "ignore_public_acls",
            "restrict_public_buckets",
        )
    )
    assert "aws_s3_bucket_versioning" in json.dumps(_terraform()["resource"])
    assert _resources("aws_kms_key")["herald"]["enable_key_rotation"] is True


def test_the_public_door_is_tls_behind_waf() -> None:
    https = _resources("aws_lb_listener")["https"]
    assert https["protocol"] == "HTTPS" and "TLS13" in https["ssl_policy"]
    redirect = _value(_resources("aws_lb_listener")["http"], "default_action")
    assert redirect["type"] == "redirect"
    acl = _resources("aws_wafv2_web_acl")["web"]
    managed = {
        _value(_value(rule, "statement"), "managed_rule_group_statement")["name"]
        for rule in acl["rule"]
        if "managed_rule_group_statement" in _value(rule, "statement")
    }
    assert {"AWSManagedRulesCommonRuleSet", "AWSManagedRulesKnownBadInputsRuleSet"} <= managed
    assert "web" in _resources("aws_wafv2_web_acl_association")


def test_the_load_balancer_never_forwards_metrics() -> None:
    """/metrics is for Prometheus inside the VPC: the HTTPS listener answers it with a 404."""
    rules = [
        rule
        for rule in _resources("aws_lb_listener_rule").values()
        if rule["listener_arn"] == "${aws_lb_listener.https.arn}"
    ]
    blocked = set()
    for rule in rules:
        action = _value(rule, "action")
        if action["type"] == "fixed-response":
            assert _value(action, "fixed_response")["status_code"] == "404"
            blocked |= set(_value(_value(rule, "condition"), "path_pattern")["values"])
    assert {"/metrics", "/metrics/*"} <= blocked
    https = _resources("aws_lb_listener")["https"]
    assert _value(https, "default_action")["type"] == "forward"  # all the rest goes to web


def test_every_role_runs_as_a_fargate_service_and_scales() -> None:
    text = (TF / "ecs.tf").read_text()
    for role in ("web", "worker", "scheduler"):
        assert re.search(rf"^\s+{role}\s+=\s+\{{ command = \[", text, re.M), role
    assert "{ for r in var.runners : r => { command = [r]" in text  # slack, telegram
    assert '"db", "upgrade"' in text  # the one-off migration task
    scaling = _resources("aws_appautoscaling_policy")
    assert set(scaling) == {"web_cpu", "worker_queue"}
    variables = {name for block in _terraform()["variable"] for name in block}
    assert {"image", "certificate_arn", "public_url", "kms_data_key", "runners"} <= variables


def test_every_checkov_skip_gives_its_reason() -> None:
    skips = re.findall(r"checkov:skip=(\S+)(.*)", "\n".join(p.read_text() for p in TF.glob("*.tf")))
    assert skips
    for check, reason in skips:
        assert re.fullmatch(r"CKV2?_AWS_\d+:", check), check
        assert len(reason.strip()) > 20, f"{check} has no reason"


def test_terraform_formats_and_validates_where_it_can() -> None:
    terraform = shutil.which("terraform")
    if terraform is None:
        pytest.skip("no terraform binary here: `.ci/run` and the hcl2 tests above still check")
    fmt = subprocess.run(
        [terraform, "fmt", "-check", "-recursive", str(TF)],
        capture_output=True,
        text=True,
        check=False,
    )
    assert fmt.returncode == 0, f"terraform fmt would change: {fmt.stdout}"


def _compose_spec() -> jsonschema.Draft7Validator:
    """The Compose Specification's schema (tests/data/compose-spec/SOURCE), a draft-07 one."""
    schema = json.loads((ROOT / "tests/data/compose-spec/compose-spec.json").read_text())
    return jsonschema.Draft7Validator(schema)


def _compose() -> dict[str, Any]:
    loaded: dict[str, Any] = yaml.safe_load((ROOT / "docker-compose.yml").read_text())
    return loaded


def test_compose_is_valid_compose_and_runs_every_role() -> None:
    compose = _compose()
    _compose_spec().validate(compose)
    services = compose["services"]
    for role in ROLES:
        assert services[role]["command"][0] == role, role
    assert {"postgres", "redis", "minio", "migrate", "chat"} <= set(services)
    assert services["migrate"]["command"] == ["db", "upgrade"]
    for role in ROLES:
        needs = services[role]["depends_on"]
        assert needs["migrate"]["condition"] == "service_completed_successfully"
        assert "container_name" not in services[role]  # `--scale worker=N` needs none
    assert services["slack"]["profiles"] == ["slack"]
    assert services["telegram"]["profiles"] == ["telegram"]
    assert "healthcheck" in services["web"]
    for tool in ("prometheus", "alertmanager", "grafana"):
        assert services[tool]["profiles"] == ["monitoring"]
    mounted = " ".join(services["prometheus"]["volumes"] + services["grafana"]["volumes"])
    assert "./infra/prometheus" in mounted and "./infra/grafana/herald.json" in mounted
    for path in re.findall(r"\./(infra/[\w./-]+)", mounted):
        assert (ROOT / path).exists(), path  # every file the stack mounts is in the repo


def test_compose_refuses_to_start_without_a_secret_key() -> None:
    key = _compose()["services"]["web"]["environment"]["HERALD_SECRET_KEY"]
    assert key.startswith("${HERALD_SECRET_KEY:?")


def test_a_mistake_in_the_compose_file_is_caught() -> None:
    """The schema check above is real: a misspelt key fails it."""
    compose = _compose()
    compose["services"]["web"]["restrat"] = "always"
    with pytest.raises(jsonschema.ValidationError, match="restrat"):
        _compose_spec().validate(compose)


def test_the_dockerfile_builds_from_the_lock_and_runs_unprivileged() -> None:
    text = (ROOT / "infra" / "Dockerfile").read_text()
    assert text.count("FROM ") == 2  # a build stage and a slim runtime stage
    assert "--require-hashes" in text
    assert re.search(r"^USER \d+", text, re.M)
    lock = (ROOT / "infra" / "requirements.lock").read_text()
    assert "--hash=sha256:" in lock
    for package in ("celery", "sqlalchemy", "slack-bolt", "python-telegram-bot"):
        assert re.search(rf"^{package}==", lock, re.M | re.I), package


def test_the_readme_cost_tables_are_the_computed_ones() -> None:
    out = subprocess.run(
        [sys.executable, str(TF / "cost.py")], capture_output=True, text=True, check=True
    ).stdout
    readme = (TF / "README.md").read_text()
    for table in out.strip().split("\n\n"):
        assert table in readme, table.splitlines()[0]


def test_the_lock_holds_every_runtime_dependency() -> None:
    """The image installs the lock alone (--no-deps): a dependency added to pyproject.toml and
    not to the lock would be missing from the image."""
    import tomllib

    declared = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["dependencies"]
    lock = (ROOT / "infra" / "requirements.lock").read_text().lower()
    for line in declared:
        name = re.split(r"[\s\[<>=!~;]", line, maxsplit=1)[0].lower().replace("_", "-")
        assert re.search(rf"^{re.escape(name)}==", lock, re.M), f"{name}: regenerate the lock"
