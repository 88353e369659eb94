"""`audit` and `audit export` for owners and admins, `forget @user` for owners, and
`herald workspace export`: the person forgotten is gone from everything exported, the chain
still verifies, and no secret is ever in the export."""

from __future__ import annotations

import csv
import io
import json

from click.testing import CliRunner
from sqlalchemy import select

from bot.cli import main
from bot.runtime import Runtime
from bot.slack.people import slack_text
from core.auditlog import upkeep
from core.auditlog.erasure import export_workspace
from core.settings import Settings
from core.workspace.people import Actor
from storage.models import AuditEvent, ConnectedAccount, Workspace
from tests.support.helpers import (
    actor,
    eventually,
    herald_env,
    post_state,
    slack_actor,
    snapshot,
)
from tests.support.platforms import add_account, runtime_with

ANA = slack_actor("U1ANA", "ana")  # the first to speak: the owner
LEONORA = slack_actor("U2LEONORA", "leonora")
KIM = slack_actor("U3KIM", "kim")
TOKEN = "masto-secret-token-4f1c"


def say(rt: Runtime, who: Actor, text: str) -> str:
    reply = rt.herald.handle(who, slack_text(text))
    return reply.text or ""


def team(rt: Runtime) -> None:
    for person in (ANA, LEONORA, KIM):
        say(rt, person, "queue")
    say(rt, ANA, "role <@U2LEONORA> editor")
    say(rt, ANA, "role <@U3KIM> admin")


def exported(rt: Runtime) -> str:
    with rt.db.session() as s:
        ws = s.scalars(select(Workspace.id)).one()
        return json.dumps(export_workspace(s, ws), ensure_ascii=False)


def test_admins_read_the_log_newest_first_with_who_and_when(idle_runtime: Runtime) -> None:
    rt = idle_runtime
    team(rt)
    answer = say(rt, KIM, "audit")
    lines = answer.splitlines()
    assert lines[0].startswith("🧾 Audit log, newest first (2 shown")
    assert "@ana (slack) · member.role" in lines[1]
    assert '"role": "admin"' in lines[1] and '"before": {"role": "editor"}' in lines[1]
    assert "UTC" in lines[1]
    mine = say(rt, KIM, "audit <@U1ANA>")
    assert mine.startswith("🧾 Audit log by @ana")
    assert say(rt, KIM, "audit <@U3KIM>") == "The audit log has nothing by @kim."
    since = say(rt, KIM, 'audit since "in 1h"')
    assert "is in the future" in since
    assert say(rt, KIM, "audit since yesterday").startswith("🧾 Audit log since ")


def test_the_export_is_a_csv_with_each_rows_hash(idle_runtime: Runtime) -> None:
    rt = idle_runtime
    team(rt)
    reply = rt.herald.handle(ANA, slack_text("audit export 7d"))
    assert reply.text and reply.text.startswith(
        "📄 The audit log in the last 7 days, as CSV: 2 rows"
    )
    (attached,) = reply.files
    assert attached.mime == "text/csv" and attached.name == "herald-audit-7d.csv"
    rows = list(csv.DictReader(io.StringIO(attached.data.decode())))
    with rt.db.session() as s:
        hashes = list(s.scalars(select(AuditEvent.hash).order_by(AuditEvent.seq)))
    assert [r["hash"] for r in rows] == hashes
    assert rows[0]["actor"] == "ana" and rows[0]["surface"] == "slack"
    assert rows[0]["at_utc"].endswith("Z")


def test_non_admins_are_refused_and_nothing_changes(idle_runtime: Runtime) -> None:
    rt = idle_runtime
    team(rt)
    before = snapshot(rt)
    refused = rt.herald.handle(LEONORA, slack_text("audit"))
    assert refused.error and "only owners and admins can configure" in (refused.text or "")
    refused = rt.herald.handle(LEONORA, slack_text("audit export"))
    assert refused.error
    # An admin is not an owner: forgetting is for owners.
    refused = rt.herald.handle(KIM, slack_text("forget <@U2LEONORA>"))
    assert refused.error and "only owners can forget a person" in (refused.text or "")
    refused = rt.herald.handle(LEONORA, slack_text("forget <@U3KIM>"))
    assert refused.error
    assert snapshot(rt) == before
    assert "leonora" in exported(rt)


def test_a_typed_name_forgets_nobody(idle_runtime: Runtime) -> None:
    rt = idle_runtime
    team(rt)
    before = snapshot(rt)
    answer = rt.herald.handle(ANA, slack_text("forget leonora"))
    assert answer.error and "mention them" in (answer.text or "")
    assert "@leonora (id U2LEONORA)" in (answer.text or "")
    assert snapshot(rt) == before


def test_forget_removes_the_name_everywhere_and_the_chain_still_verifies(
    runtime: Runtime,
) -> None:
    rt = runtime
    team(rt)
    say(rt, LEONORA, "draft Thanks leonora for the launch --to outbox")
    eventually(lambda: post_state(rt, 1) == "pending_approval", what="the draft")
    say(rt, ANA, "reject 1 ask leonora first")
    text = exported(rt)
    assert "leonora" in text.lower() and "U2LEONORA" in text
    keys = upkeep.checkpoint_keys(rt.vault)
    assert all(v.ok for v in upkeep.verify(rt.db, keys))

    answer = say(rt, ANA, "forget <@U2LEONORA>")
    assert answer.startswith("Forgotten: their name and id are replaced by person-2")
    text = exported(rt)
    assert "leonora" not in text.lower() and "U2LEONORA" not in text
    assert "person-2" in text
    (verdict,) = upkeep.verify(rt.db, keys)
    assert verdict.ok, verdict.problems
    assert verdict.redacted >= 1
    # The log names them by pseudonym; the forget itself is in it.
    log = say(rt, ANA, "audit")
    assert "member.forget" in log and "leonora" not in log.lower()
    # Their platform id no longer leads to them.
    assert say(rt, ANA, "forget <@U2LEONORA>").startswith("Nobody called @U2LEONORA")


def test_the_workspace_export_holds_no_secret(settings: Settings) -> None:
    rt = runtime_with(settings, worker=False)
    try:
        _export_holds_no_secret(rt)
    finally:
        rt.close()


def _export_holds_no_secret(rt: Runtime) -> None:
    add_account(
        rt,
        "mastodon",
        "acme@masto.test",
        "@acme@masto.test",
        {"instance": "https://masto.test", "access_token": TOKEN},
        who=ANA,
    )
    team(rt)
    with rt.db.session() as s:
        sealed = s.scalars(select(ConnectedAccount.credentials)).one()
    env = herald_env(rt.settings)
    result = CliRunner().invoke(main, ["workspace", "export", "1"], env=env)
    assert result.exit_code == 0, result.output
    data = json.loads(result.output)
    tables = data["tables"]
    assert tables["connected_accounts"][0]["display_name"] == "@acme@masto.test"
    assert "credentials" not in tables["connected_accounts"][0]
    assert "oauth_states" not in tables
    assert {"workspaces", "members", "audit_events", "posts"} <= set(tables)
    assert TOKEN not in result.output and sealed.hex() not in result.output
    assert "account.connect" in {row["action"] for row in tables["audit_events"]}
    missing = CliRunner().invoke(main, ["workspace", "export", "99"], env=env)
    assert missing.exit_code == 1 and "There is no workspace 99" in missing.output


def test_a_policy_change_keeps_what_it_replaced(idle_runtime: Runtime) -> None:
    rt = idle_runtime
    team(rt)
    say(rt, ANA, "policy approvals 2")
    newest = say(rt, ANA, "audit").splitlines()[1]
    assert "workspace.policy" in newest
    assert '"approvals": 2' in newest and '"before": {"approvals": 1' in newest


def test_the_terminal_reads_the_log_too(idle_runtime: Runtime) -> None:
    maria = actor("maria")
    idle_runtime.herald.handle(maria, "voice budget 5")
    answer = idle_runtime.herald.handle(maria, "audit").text or ""
    assert answer.startswith("🧾 Audit log, newest first (1 shown")
    assert "@maria (terminal) · workspace.budget" in answer
