"""A local OpenAI-compatible server for tests: `POST /v1/chat/completions` on 127.0.0.1:0.

It speaks the real wire format (spec-required keys, `usage`, the error envelope, rate-limit
headers) so the real `openai` client can be pointed at it with `base_url`. Tests script its
answers in order (`then_*`); when the script is empty it drafts a plain, valid variant for
every network the request's schema asks for. Every request is recorded (headers and JSON).
"""

from __future__ import annotations

import json
import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

Answer = Callable[[dict[str, Any]], "Reply"]


@dataclass
class Reply:
    status: int = 200
    body: bytes = b""
    headers: dict[str, str] = field(default_factory=dict)
    delay: float = 0.0


@dataclass
class Recorded:
    path: str
    headers: dict[str, str]
    body: dict[str, Any]

    @property
    def messages(self) -> list[dict[str, Any]]:
        return list(self.body.get("messages", []))

    def role_text(self, role: str) -> str:
        return "\n".join(str(m.get("content") or "") for m in self.messages if m["role"] == role)


def completion(
    *,
    content: str | None = None,
    tool_calls: list[dict[str, Any]] | None = None,
    model: str = "test-model",
    prompt_tokens: int = 100,
    completion_tokens: int = 50,
    refusal: str | None = None,
    usage: bool = True,
) -> dict[str, Any]:
    """A chat.completion body with every key the spec requires."""
    message: dict[str, Any] = {"role": "assistant", "content": content, "refusal": refusal}
    if tool_calls:
        message["tool_calls"] = tool_calls
    body: dict[str, Any] = {
        "id": "chatcmpl-test",
        "object": "chat.completion",
        "created": 1_700_000_000,
        "model": model,
        "choices": [
            {
                "index": 0,
                "finish_reason": "tool_calls" if tool_calls else "stop",
                "logprobs": None,
                "message": message,
            }
        ],
        "service_tier": "default",
        "system_fingerprint": "fp_test",
    }
    if usage:
        body["usage"] = {
            "prompt_tokens": prompt_tokens,
            "completion_tokens": completion_tokens,
            "total_tokens": prompt_tokens + completion_tokens,
            "prompt_tokens_details": {"cached_tokens": 0, "audio_tokens": 0},
            "completion_tokens_details": {
                "reasoning_tokens": 0,
                "audio_tokens": 0,
                "accepted_prediction_tokens": 0,
                "rejected_prediction_tokens": 0,
            },
        }
    return body


def error_body(message: str, kind: str, code: str | None = None, param: str | None = None) -> bytes:
    return json.dumps(
        {"error": {"message": message, "type": kind, "param": param, "code": code}}
    ).encode()


RATE_HEADERS = {
    "x-ratelimit-limit-requests": "500",
    "x-ratelimit-limit-tokens": "200000",
    "x-ratelimit-remaining-requests": "0",
    "x-ratelimit-remaining-tokens": "0",
    "x-ratelimit-reset-requests": "1s",
    "x-ratelimit-reset-tokens": "6m0s",
    "x-request-id": "req_test",
}


def requested_networks(body: dict[str, Any]) -> list[str]:
    """The networks a draft request asks for: from the json_schema, else the user JSON."""
    schema = (body.get("response_format") or {}).get("json_schema", {}).get("schema")
    if schema:
        items = schema["properties"]["variants"]["items"]
        return list(items["properties"]["network"]["enum"])
    for message in body.get("messages", []):
        if message["role"] == "user":
            try:
                data = json.loads(message["content"])
            except (TypeError, ValueError):
                continue
            if isinstance(data, dict) and "networks" in data:
                return [n["name"] for n in data["networks"]]
    return []


def variants_json(texts: dict[str, str], **extra: Any) -> str:
    """The structured answer Herald asks for, one variant per network."""
    variants = []
    for network, text in texts.items():
        variant = {"network": network, "text": text, "hashtags": [], "thread": [], "alt_texts": []}
        variant.update(extra.get(network, {}))
        variants.append(variant)
    return json.dumps({"variants": variants})


class FakeOpenAI:
    """Start with `with FakeOpenAI() as fake:`; point the client at `fake.base_url`."""

    def __init__(
        self,
        *,
        model: str = "test-model",
        prompt_tokens: int = 100,
        completion_tokens: int = 50,
        json_schema: bool = True,
    ) -> None:
        self.model = model
        self.prompt_tokens = prompt_tokens
        self.completion_tokens = completion_tokens
        self.json_schema = json_schema  # False: answer 400 to json_schema like some servers
        self.script: list[Answer] = []
        self.requests: list[Recorded] = []
        self._lock = threading.Lock()
        self._server: ThreadingHTTPServer | None = None
        self._stop = threading.Event()

    # --- scripting ---------------------------------------------------------------------------

    def then(self, answer: Answer) -> FakeOpenAI:
        with self._lock:
            self.script.append(answer)
        return self

    def then_json(self, content: str, **usage: int) -> FakeOpenAI:
        return self.then(lambda _body: self._ok(completion(content=content, **self._use(usage))))

    def then_variants(self, texts: dict[str, str], **extra: Any) -> FakeOpenAI:
        return self.then_json(variants_json(texts, **extra))

    def then_tool_call(self, name: str, arguments: dict[str, Any]) -> FakeOpenAI:
        call = {
            "id": "call_test",
            "type": "function",
            "function": {"name": name, "arguments": json.dumps(arguments)},
        }
        return self.then(lambda _body: self._ok(completion(tool_calls=[call], **self._use({}))))

    def then_text(self, content: str) -> FakeOpenAI:
        return self.then(lambda _body: self._ok(completion(content=content, **self._use({}))))

    def then_error(
        self, status: int, kind: str, code: str | None = None, headers: dict[str, str] | None = None
    ) -> FakeOpenAI:
        body = error_body(f"fake {kind}", kind, code)
        return self.then(lambda _body: Reply(status, body, dict(headers or {})))

    def then_rate_limited(self, retry_after: str = "1") -> FakeOpenAI:
        body = error_body(
            "Rate limit reached for test-model. Please try again in 1s.",
            "tokens",
            "rate_limit_exceeded",
        )
        return self.then(
            lambda _body: Reply(429, body, {**RATE_HEADERS, "retry-after": retry_after})
        )

    def then_hang(self, seconds: float) -> FakeOpenAI:
        return self.then(lambda body: Reply(200, self._default(body).body, delay=seconds))

    def then_malformed(self) -> FakeOpenAI:
        """A 200 whose body is not JSON at all."""
        return self.then(lambda _body: Reply(200, b'{"id": "chatcmpl-x", "choices": [', {}, 0.0))

    def _use(self, usage: dict[str, int]) -> dict[str, Any]:
        return {
            "model": self.model,
            "prompt_tokens": usage.get("prompt_tokens", self.prompt_tokens),
            "completion_tokens": usage.get("completion_tokens", self.completion_tokens),
        }

    @staticmethod
    def _ok(body: dict[str, Any]) -> Reply:
        return Reply(200, json.dumps(body).encode(), {"x-request-id": "req_test"})

    def _default(self, body: dict[str, Any]) -> Reply:
        networks = requested_networks(body)
        if not networks:
            return self._ok(completion(content="{}", **self._use({})))
        texts = {n: f"Fresh from the model for {n}." for n in networks}
        return self._ok(completion(content=variants_json(texts), **self._use({})))

    # --- serving -----------------------------------------------------------------------------

    def _answer(self, body: dict[str, Any]) -> Reply:
        response_format = body.get("response_format") or {}
        if not self.json_schema and response_format.get("type") == "json_schema":
            return Reply(
                400,
                error_body(
                    "response_format json_schema is not supported by this model",
                    "invalid_request_error",
                    None,
                    "response_format",
                ),
            )
        with self._lock:
            answer = self.script.pop(0) if self.script else None
        return answer(body) if answer else self._default(body)

    def calls(self, path: str = "/v1/chat/completions") -> list[Recorded]:
        with self._lock:
            return [r for r in self.requests if r.path == path]

    @property
    def base_url(self) -> str:
        assert self._server is not None
        host, port = self._server.server_address[:2]
        return f"http://{host!s}:{port}/v1"

    def __enter__(self) -> FakeOpenAI:
        fake = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, format: str, *args: Any) -> None:
                pass

            def _send(self, reply: Reply) -> None:
                if reply.delay:
                    # Hang like a stuck server, but let the test end without waiting it out.
                    fake._stop.wait(reply.delay)
                try:
                    self.send_response(reply.status)
                    self.send_header("content-type", "application/json")
                    self.send_header("content-length", str(len(reply.body)))
                    for key, value in reply.headers.items():
                        self.send_header(key, value)
                    self.end_headers()
                    self.wfile.write(reply.body)
                except (BrokenPipeError, ConnectionResetError):
                    pass  # the client gave up (a timeout): that is the point of a hang

            def do_GET(self) -> None:
                if self.path.rstrip("/") == "/v1/models":
                    body = {
                        "object": "list",
                        "data": [
                            {"id": fake.model, "object": "model", "created": 0, "owned_by": "fake"}
                        ],
                    }
                    self._send(Reply(200, json.dumps(body).encode()))
                else:
                    self._send(Reply(404, error_body("no such route", "invalid_request_error")))

            def do_POST(self) -> None:
                length = int(self.headers.get("content-length") or 0)
                raw = self.rfile.read(length)
                try:
                    body = json.loads(raw or b"{}")
                except ValueError:
                    body = {}
                with fake._lock:
                    fake.requests.append(
                        Recorded(self.path, {k.lower(): v for k, v in self.headers.items()}, body)
                    )
                if self.path != "/v1/chat/completions":
                    self._send(Reply(404, error_body("no such route", "invalid_request_error")))
                    return
                if "model" not in body or "messages" not in body:
                    self._send(
                        Reply(
                            400,
                            error_body("model and messages are required", "invalid_request_error"),
                        )
                    )
                    return
                self._send(fake._answer(body))

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._server.daemon_threads = True
        threading.Thread(target=self._server.serve_forever, daemon=True).start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        assert self._server is not None
        self._server.shutdown()
        self._server.server_close()
        time.sleep(0)  # let handler threads see the stop event


# --- wiring a Herald runtime to the fake --------------------------------------------------------

TEST_KEY = "sk-test-do-not-send-to-the-model"
# 100 prompt tokens at USD 10,000 per million make each call cost exactly USD 1.
TEST_PRICES = {"test-model": (10_000.0, 0.0)}


def isolated(settings: Any) -> Any:
    """Settings with a queue of their own in the embedded mode.

    Celery's in-memory transport keeps queues per process, by name: a job a previous test left
    behind (an idle runtime never consumes its jobs) would otherwise reach this test's worker.
    """
    if not settings.embedded:
        return settings
    return settings.model_copy(update={"queue": f"herald-llm-{uuid.uuid4().hex[:8]}"})


def llm_settings(settings: Any, fake: FakeOpenAI, **overrides: Any) -> Any:
    """The test settings pointed at the fake, with fast timeouts and a generous budget."""
    from pydantic import SecretStr

    settings = isolated(settings)
    values: dict[str, Any] = {
        "llm_base_url": fake.base_url,
        "llm_api_key": SecretStr(TEST_KEY),
        "llm_model": "test-model",
        "llm_timeout_seconds": 2.0,
        "llm_max_retries": 1,
        "llm_prices": TEST_PRICES,
        "llm_monthly_budget_usd": 1000.0,
    }
    values.update(overrides)
    return settings.model_copy(update=values)


class StandInPublisher:
    """A connected account on a network Herald has no fake for here: records what it posts."""

    def __init__(self, network: str) -> None:
        self.network = network
        self.posted: list[Any] = []

    def publish(self, request: Any) -> Any:
        from core.ports import Published

        self.posted.append(request)
        return Published(
            external_id=f"{self.network}-{request.target_id}", url="https://example.test/p"
        )

    def find(self, request: Any) -> Any:
        return None

    def is_connected(self, session: Any, workspace_id: int) -> bool:
        return True


def connect_stand_ins(
    runtime: Any, networks: tuple[str, ...] = ("x", "linkedin", "mastodon", "bluesky", "facebook")
) -> dict[str, StandInPublisher]:
    stand_ins = {n: StandInPublisher(n) for n in networks}
    runtime.herald.ctx.publishers = {**runtime.herald.ctx.publishers, **stand_ins}
    return stand_ins
