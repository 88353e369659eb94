"""One chat-completions call to any OpenAI-compatible server, with plain-words errors.

The official `openai` client does the HTTP, the timeout and the bounded retries (429 with
`retry-after`, 5xx, dropped connections). This module adds what compatible servers need:
structured output falls back from `json_schema` to `json_object` to plain prompting when a
server refuses it (HTTP 400), and the token limit falls back from `max_completion_tokens` to
`max_tokens`; the fallback is remembered for the life of the process. Every error becomes a
`ModelError` whose `str()` can be shown to a chat user as is: never a raw API error, never a key.
"""

from __future__ import annotations

import json
import logging
import threading
import time
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

if TYPE_CHECKING:  # the openai package is imported when a model is first called
    import openai
    from openai import OpenAI

from core.settings import Settings

log = logging.getLogger(__name__)

STRUCTURED_MODES = ("json_schema", "json_object", "prompt")
TOKEN_LIMIT_NAMES = ("max_completion_tokens", "max_tokens")  # newest first; Ollama knows the 2nd
# Used when a server reports no usage: about four characters a token, rounded up, so the
# budget still moves.
CHARS_PER_TOKEN = 4


class ModelError(Exception):
    """The model could not give an answer. `str()` is plain words for the chat."""


@dataclass(frozen=True)
class Usage:
    model: str
    prompt_tokens: int
    completion_tokens: int
    cached_tokens: int = 0
    estimated: bool = False


@dataclass(frozen=True)
class ToolCall:
    id: str
    name: str
    arguments: str


@dataclass(frozen=True)
class Completion:
    content: str | None
    usage: Usage
    tool_calls: tuple[ToolCall, ...] = ()
    refusal: str | None = None
    finish_reason: str | None = None
    message: dict[str, Any] = field(default_factory=dict)  # the assistant turn, to append


class ModelClient:
    """A thread-safe, lazily built `openai.OpenAI` for the configured server and model."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.model = settings.llm_model
        self.timeout = settings.llm_timeout_seconds
        self._client: OpenAI | None = None
        self._lock = threading.Lock()
        self.structured = STRUCTURED_MODES[0]
        self.token_param = TOKEN_LIMIT_NAMES[0]

    @property
    def host(self) -> str:
        base = self.settings.llm_base_url or "https://api.openai.com/v1"
        return urlsplit(base).netloc or base

    def _openai(self) -> OpenAI:
        from openai import OpenAI

        with self._lock:
            if self._client is None:
                key = self.settings.llm_api_key
                self._client = OpenAI(
                    base_url=self.settings.llm_base_url or None,
                    # Ollama and LM Studio ignore the key, but the client insists on one.
                    api_key=key.get_secret_value() if key else "not-needed",
                    timeout=self.timeout,
                    max_retries=self.settings.llm_max_retries,
                )
            return self._client

    def complete(
        self,
        messages: list[dict[str, Any]],
        *,
        schema: dict[str, Any] | None = None,
        schema_name: str = "answer",
        tools: list[dict[str, Any]] | None = None,
        max_tokens: int = 1500,
        temperature: float = 0.7,
        deadline: float | None = None,
    ) -> Completion:
        """One completion. Falls back on 400s a server gives for features it lacks.

        `deadline` (a `time.monotonic()` instant) bounds the call with its retries, so one
        draft never outlives the sweeper's patience and gets generated twice.
        """
        import openai

        for _ in range(len(STRUCTURED_MODES) + 2):
            client = self._bounded(deadline)
            kwargs: dict[str, Any] = {
                "model": self.model,
                "messages": messages,
                "temperature": temperature,
                self.token_param: max_tokens,
            }
            mode = self.structured if schema is not None else None
            if mode == "json_schema":
                kwargs["response_format"] = {
                    "type": "json_schema",
                    "json_schema": {"name": schema_name, "strict": True, "schema": schema},
                }
            elif mode == "json_object":
                kwargs["response_format"] = {"type": "json_object"}
            if tools:
                kwargs["tools"] = tools
                kwargs["tool_choice"] = "auto"
            try:
                response = client.chat.completions.create(**kwargs)
            except openai.BadRequestError as exc:
                if self._fall_back(exc, mode):
                    continue
                log.warning("model refused the request: %s", _brief_error(exc))
                raise ModelError(
                    "the model service refused the request (HTTP 400); "
                    "ask whoever runs Herald to check HERALD_LLM_MODEL"
                ) from None
            except openai.APIError as exc:
                raise self._plain(exc) from None
            except ValueError as exc:  # a body that is not JSON at all
                log.warning("unreadable answer from the model service: %s", exc)
                raise ModelError("the model service sent an answer I could not read") from None
            return self._completion(response, messages)
        raise ModelError("the model service refused every form of the request")

    def _bounded(self, deadline: float | None) -> OpenAI:
        """The client, with timeout and retries cut to fit what is left before `deadline`."""
        client = self._openai()
        if deadline is None:
            return client
        left = deadline - time.monotonic()
        if left < 1:
            raise ModelError(f"the model did not answer within {self.timeout:.0f} s")
        timeout = min(self.timeout, left)
        retries = min(self.settings.llm_max_retries, max(0, int(left // timeout) - 1))
        return client.with_options(timeout=timeout, max_retries=retries)

    def _fall_back(self, exc: openai.BadRequestError, mode: str | None) -> bool:
        """Step down to what this server supports; False when there is nothing left to try."""
        text = _brief_error(exc).lower()
        with self._lock:
            if self.token_param == TOKEN_LIMIT_NAMES[0] and TOKEN_LIMIT_NAMES[0] in text:
                self.token_param = TOKEN_LIMIT_NAMES[1]
                log.info("model server wants max_tokens; using it from now on")
                return True
            if mode in {"json_schema", "json_object"}:
                index = STRUCTURED_MODES.index(mode)
                self.structured = STRUCTURED_MODES[index + 1]
                log.info("model server refused %s; using %s from now on", mode, self.structured)
                return True
        return False

    def _plain(self, exc: openai.APIError) -> ModelError:
        import openai

        log.warning("model call failed: %s", _brief_error(exc))
        if isinstance(exc, openai.APITimeoutError):
            return ModelError(f"the model did not answer within {self.timeout:.0f} s")
        if isinstance(exc, openai.APIConnectionError):
            return ModelError(f"I couldn't reach the model service at {self.host}")
        if isinstance(exc, openai.RateLimitError):
            if _error_code(exc) == "insufficient_quota":
                return ModelError(
                    "the model account has run out of quota; ask whoever runs Herald to "
                    "check the plan"
                )
            return ModelError("the model service is busy (rate limited); try again in a minute")
        if isinstance(exc, openai.AuthenticationError | openai.PermissionDeniedError):
            return ModelError(
                "the model service refused Herald's API key; ask whoever runs Herald to check "
                "HERALD_LLM_API_KEY"
            )
        if isinstance(exc, openai.NotFoundError):
            return ModelError(
                f'the model service does not know the model "{self.model}"; check '
                "HERALD_LLM_MODEL and HERALD_LLM_BASE_URL"
            )
        if isinstance(exc, openai.APIStatusError):
            return ModelError(f"the model service had an error (HTTP {exc.status_code})")
        return ModelError("the model service sent an answer I could not read")

    def _completion(self, response: Any, messages: list[dict[str, Any]]) -> Completion:
        choices = getattr(response, "choices", None)
        if not choices:
            raise ModelError("the model service sent an empty answer")
        choice = choices[0]
        message = choice.message
        calls = tuple(
            ToolCall(id=c.id, name=c.function.name, arguments=c.function.arguments or "{}")
            for c in (message.tool_calls or [])
            if getattr(c, "function", None) is not None
        )
        content = message.content
        return Completion(
            content=content,
            usage=_usage(response, self.model, messages, content, calls),
            tool_calls=calls,
            refusal=getattr(message, "refusal", None),
            finish_reason=choice.finish_reason,
            message=message.model_dump(exclude_none=True),
        )


def _usage(
    response: Any,
    model: str,
    messages: list[dict[str, Any]],
    content: str | None,
    calls: tuple[ToolCall, ...],
) -> Usage:
    answered = str(getattr(response, "model", None) or model)
    usage = getattr(response, "usage", None)
    if usage is not None and usage.prompt_tokens is not None:
        details = getattr(usage, "prompt_tokens_details", None)
        return Usage(
            model=answered,
            prompt_tokens=int(usage.prompt_tokens or 0),
            completion_tokens=int(usage.completion_tokens or 0),
            cached_tokens=int(getattr(details, "cached_tokens", 0) or 0),
        )
    sent = len(json.dumps(messages, ensure_ascii=False))
    got = len(content or "") + sum(len(c.arguments) for c in calls)
    return Usage(
        model=answered,
        prompt_tokens=-(-sent // CHARS_PER_TOKEN),
        completion_tokens=-(-got // CHARS_PER_TOKEN),
        estimated=True,
    )


def _error_code(exc: openai.APIError) -> str | None:
    body = exc.body if isinstance(exc.body, dict) else {}
    error = body.get("error", body) if isinstance(body, dict) else {}
    code = getattr(exc, "code", None) or (error.get("code") if isinstance(error, dict) else None)
    kind = error.get("type") if isinstance(error, dict) else None
    return str(code or kind or "") or None


def _brief_error(exc: openai.APIError) -> str:
    """The server's message for the log (the client never puts the key in it)."""
    status = getattr(exc, "status_code", None)
    return f"{type(exc).__name__} {status or ''} {exc.message}"[:500]
