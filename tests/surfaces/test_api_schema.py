"""The REST API exercised from its own OpenAPI document (schemathesis, in-process against the
ASGI app): whatever a client sends, no 500; nothing succeeds without a valid token, outside the
token's scopes, or beyond what its person may do in chat; every refusal is a problem document.
"""

from __future__ import annotations

from typing import Any

import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from schemathesis.core.result import Ok
from schemathesis.generation.modes import GenerationMode

from bot.runtime import Runtime
from bot.web.app import create_app
from tests.support.helpers import actor, eventually, post_state
from tests.surfaces.test_api import MARIA, VIC, new_token

# Per operation and backend, valid and invalid: the whole file stays well under a minute.
EXAMPLES = 20
# The scope each operation needs; the other operations must not let a token without it in.
NEEDS = {
    ("GET", "/posts"): "read",
    ("GET", "/posts/{number}"): "read",
    ("GET", "/stats"): "read",
    ("POST", "/posts"): "draft",
    ("POST", "/posts/{number}/schedule"): "draft",
    ("POST", "/posts/{number}/cancel"): "draft",
    ("POST", "/posts/{number}/approve"): "approve",
    ("POST", "/posts/{number}/reject"): "approve",
}
SCOPES = ("read", "draft", "approve")


@pytest.fixture
def tokens(runtime: Runtime) -> dict[str, str]:
    """Maria (the owner) with every scope and with each scope missing; Vic, a viewer, with
    every scope; and a post #1 waiting for approval, so that numbers hit something.

    No rate limit: the "all" token sends more than a minute's worth, and each request must
    reach its endpoint (test_api.py has the 429)."""
    ctx = runtime.herald.ctx
    ctx.settings = ctx.settings.model_copy(update={"api_rate_limit": 0})
    for person in (MARIA, VIC, actor("lee")):
        runtime.herald.handle(person, "queue")
    runtime.herald.handle(MARIA, "role vic viewer")
    made = {"all": new_token(runtime, MARIA, "all read,draft,approve")}
    for scope in SCOPES:
        others = ",".join(s for s in SCOPES if s != scope)
        made[f"no-{scope}"] = new_token(runtime, MARIA, f"no-{scope} {others}")
    made["viewer"] = new_token(runtime, VIC, "viewer read,draft,approve")
    runtime.herald.handle(MARIA, "draft A post to find --to outbox")
    eventually(lambda: post_state(runtime, 1) == "pending_approval", what="post #1")
    return made


def call(case: Any, token: str | None) -> Any:
    headers = {k: v for k, v in (case.headers or {}).items() if k.lower() != "authorization"}
    if token is not None:
        headers["Authorization"] = f"Bearer {token}"
    case.headers = headers
    response = case.call()
    assert response.status_code < 500, (case.method, case.formatted_path, response.text)
    if response.status_code >= 400:
        (kind,) = response.headers["content-type"]  # schemathesis lists each header's values
        assert kind.startswith("application/problem+json"), response.text
        assert response.json()["detail"]
    return response


def check(case: Any, tokens: dict[str, str]) -> None:
    scope = NEEDS[(case.method.upper(), case.path)]
    assert call(case, None).status_code == 401
    assert call(case, "hrld_" + "x" * 43).status_code == 401
    outside = call(case, tokens[f"no-{scope}"])
    assert not 200 <= outside.status_code < 300, (case.method, case.path, outside.text)
    if scope != "read":
        viewer = call(case, tokens["viewer"])
        assert not 200 <= viewer.status_code < 300, (case.method, case.path, viewer.text)
    call(case, tokens["all"])


def test_the_api_holds_whatever_is_sent(runtime: Runtime, tokens: dict[str, str]) -> None:
    schema = schemathesis.openapi.from_asgi("/api/v1/openapi.json", create_app(runtime))
    results = list(schema.get_all_operations())
    assert all(isinstance(result, Ok) for result in results), results
    operations = [result.ok() for result in results if isinstance(result, Ok)]
    assert {(op.method.upper(), op.path) for op in operations} == set(NEEDS)
    for operation in operations:
        cases = st.one_of(
            operation.as_strategy(GenerationMode.POSITIVE),
            operation.as_strategy(GenerationMode.NEGATIVE),
        )

        @given(cases)
        @settings(
            max_examples=EXAMPLES,
            deadline=None,
            suppress_health_check=list(HealthCheck),
            derandomize=True,
            database=None,
        )
        def holds(case: Any) -> None:
            check(case, tokens)

        holds()
