"""Choose the generator and the free-text interpreter from settings.

With `HERALD_LLM_BASE_URL` or `HERALD_LLM_API_KEY` set, drafts and free text go to the model
(the offline templates take over when a workspace's monthly budget is used up, and the rules
when the model cannot read a message); without them, the offline generator and the rules serve.
Both kinds of drafts are written in the workspace's brand voice and carry its warnings.
"""

from __future__ import annotations

import threading
from typing import Any

from core.ports import GenerationRequest, Generator, Interpreter, JobQueue, Variant
from core.settings import Settings
from storage.db import Database


class _OnFirstUse:
    """Builds the real generator or interpreter the first time it is used, so a process that
    never drafts (`herald chat` answering `help`, the web) never loads the generation stack
    (Jinja2, the model client, the offline generator's patterns)."""

    def __init__(self, settings: Settings, db: Database, queue: JobQueue | None) -> None:
        self._settings, self._db, self._queue = settings, db, queue
        self._built: Any = None
        self._lock = threading.Lock()

    def _build(self) -> Any:
        raise NotImplementedError

    def _inner(self) -> Any:
        with self._lock:
            if self._built is None:
                self._built = self._build()
            return self._built

    def _model(self) -> Any:
        from core.generation.client import ModelClient

        return ModelClient(self._settings)

    def _ledger(self) -> Any:
        from core.generation.budget import Ledger

        return Ledger(self._settings, self._db, queue=self._queue)


class _Generator(_OnFirstUse):
    def __init__(self, settings: Settings, db: Database, queue: JobQueue | None) -> None:
        super().__init__(settings, db, queue)
        self.label = "llm" if settings.llm_enabled else "offline"

    def _build(self) -> Generator:
        from core.generation.llm import OpenAIGenerator, VoicedGenerator
        from core.generation.offline import OfflineGenerator

        offline = OfflineGenerator()
        if not self._settings.llm_enabled:
            return VoicedGenerator(offline, self._db)
        return OpenAIGenerator(self._model(), self._ledger(), self._db, offline)

    def generate(self, request: GenerationRequest) -> list[Variant]:
        generated: list[Variant] = self._inner().generate(request)
        return generated


class _Interpreter(_OnFirstUse):
    def _build(self) -> Interpreter:
        from core.generation.interpret import ModelInterpreter, RuleInterpreter

        rules = RuleInterpreter()
        if not self._settings.llm_enabled:
            return rules
        return ModelInterpreter(self._model(), self._ledger(), self._db, rules)

    def interpret(self, text: str, *, actor: Any) -> Any:
        return self._inner().interpret(text, actor=actor)


def build_generator(settings: Settings, db: Database, queue: JobQueue | None = None) -> Generator:
    """`queue`, when given, sends budget notices to Slack and Telegram at once (else the
    sweeper does, a minute later). Built on first use (see `_OnFirstUse`)."""
    return _Generator(settings, db, queue)


def build_interpreter(
    settings: Settings, db: Database, queue: JobQueue | None = None
) -> Interpreter | None:
    """The model when one is configured, else the rules. Built on first use."""
    return _Interpreter(settings, db, queue)
