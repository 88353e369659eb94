"""Choose the generator and the free-text interpreter from settings.

With `HERALD_LLM_BASE_URL` or `HERALD_LLM_API_KEY` set, drafts and free text go to the model
(the offline templates take over when a workspace's monthly budget is used up, and the rules
when the model cannot read a message); without them, the offline generator and the rules serve.
Both kinds of drafts carry the workspace's brand-voice warnings.
"""

from __future__ import annotations

from core.generation.budget import Ledger
from core.generation.client import ModelClient
from core.generation.interpret import ModelInterpreter, RuleInterpreter
from core.generation.llm import OpenAIGenerator, VoicedGenerator
from core.generation.offline import OfflineGenerator
from core.ports import Generator, Interpreter, JobQueue
from core.settings import Settings
from storage.db import Database


def build_generator(settings: Settings, db: Database, queue: JobQueue | None = None) -> Generator:
    """`queue`, when given, sends budget notices to Slack and Telegram at once (else the
    sweeper does, a minute later)."""
    offline = OfflineGenerator()
    if not settings.llm_enabled:
        return VoicedGenerator(offline, db)
    return OpenAIGenerator(ModelClient(settings), Ledger(settings, db, queue=queue), db, offline)


def build_interpreter(
    settings: Settings, db: Database, queue: JobQueue | None = None
) -> Interpreter | None:
    rules = RuleInterpreter()
    if not settings.llm_enabled:
        return rules
    return ModelInterpreter(ModelClient(settings), Ledger(settings, db, queue=queue), db, rules)
