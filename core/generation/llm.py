"""Drafts from an OpenAI-compatible model: one variant per network, in the workspace's voice.

One request goes out with a strict JSON schema; the answer is validated in code. An answer that
is not valid JSON gets one more try; a variant that is too long for its network gets one repair
round asking the model to shorten it; after that X text becomes a thread and other networks keep
a visible warning. The workspace's template, required hashtags, disclosure and UTM parameters are
applied in code, and voice violations become card warnings. Every call is recorded against the
workspace's monthly budget; once it is used up, drafts come from the offline templates.

The model holds no credentials and calls no tools here: it only returns text, which reaches a
network only through the approval flow.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Sequence
from typing import Any

from core.generation.budget import Ledger, Spend
from core.generation.client import Completion, ModelClient, ModelError
from core.generation.compose import Composed, as_thread, compose
from core.generation.materials import Materials, load
from core.generation.offline import OfflineGenerator
from core.generation.prompts import draft_messages, repair_message
from core.generation.schema import InvalidOutput, RawVariant, parse_variants, variants_schema
from core.networks import get_network
from core.ports import GenerationRequest, Variant
from core.sanitize import clean_input
from core.textlint import lint
from core.voice import BrandVoice
from storage.db import Database

log = logging.getLogger(__name__)


class OpenAIGenerator:
    """The `Generator` port on a chat-completions model, with the offline one as fallback."""

    label = "llm"

    def __init__(
        self, client: ModelClient, ledger: Ledger, db: Database, offline: OfflineGenerator
    ) -> None:
        self.client = client
        self.ledger = ledger
        self.db = db
        self.offline = offline

    @property
    def variant_label(self) -> str:
        return f"llm:{self.client.model}"[:64]

    def generate(self, request: GenerationRequest) -> list[Variant]:
        materials = load(self.db, request)
        if request.workspace_id is not None:
            spend = self.ledger.spend(request.workspace_id)
            if spend.exhausted:
                return self._offline(request, materials, spend)
        call = _Calls(self, request, materials)
        raws = call.draft()
        composed = {n: self._compose(n, raws[n], request, materials) for n in request.networks}
        too_long = _too_long(composed)
        if too_long and call.may_call_again():
            repaired = call.repair(too_long)
            for network in too_long:
                if network in repaired:
                    raws[network] = repaired[network]
                    composed[network] = self._compose(network, raws[network], request, materials)
        return [self._variant(n, raws[n], composed[n], materials) for n in request.networks]

    def _compose(
        self, network: str, raw: RawVariant, request: GenerationRequest, materials: Materials
    ) -> Composed:
        parts = raw.thread if network == "x" and materials.context.thread else ()
        values = {
            "workspace": materials.workspace_name or request.workspace_name,
            "post_number": request.post_number,
            "brief": request.brief,
        }
        return compose(network, raw.text, raw.hashtags, parts, materials.voice, values)

    def _variant(
        self, network: str, raw: RawVariant, composed: Composed, materials: Materials
    ) -> Variant:
        text, parts = composed.text, composed.parts
        notes = list(composed.notes)
        target = get_network(network)
        if network == "x" and (not _fits(network, text, parts) or parts):
            was_long = not _fits(network, text, parts)
            posts = as_thread(text, parts) if was_long else (text, *parts)
            text, parts = posts[0], tuple(posts[1:])
            if was_long and parts:
                notes.append(f"Split into a thread of {len(posts)} posts to fit {target.display}.")
        return Variant(
            network=network,
            text=text,
            generator=self.variant_label,
            warnings=tuple(notes + lint(text, materials.voice, parts)),
            parts=parts,
            hashtags=composed.hashtags,
            alt_texts=raw.alt_texts[: materials.media_count],
        )

    def _offline(
        self, request: GenerationRequest, materials: Materials, spend: Spend
    ) -> list[Variant]:
        note = (
            f"⚠ Drafted from offline templates: this month's model budget is used up "
            f"(USD {spend.spent:,.2f} of {spend.budget:,.2f})."
        )
        drafted = self.offline.generate(request, materials.voice, materials.workspace_name)
        return with_voice_warnings(drafted, materials.voice, note)


class _Calls:
    """The model calls for one request, each recorded; no call once the budget is used up."""

    def __init__(
        self, generator: OpenAIGenerator, request: GenerationRequest, materials: Materials
    ) -> None:
        self.g = generator
        self.request = request
        self.materials = materials
        self.schema = variants_schema(request.networks)
        self.messages: list[dict[str, Any]] = draft_messages(
            clean_input(request.brief),
            request.networks,
            clean_input(request.feedback) if request.feedback else None,
            materials.context,
            self.schema,
        )
        self.spend: Spend | None = None
        self.last: Completion | None = None
        # Finish well before the sweeper would hand this post to another worker.
        settings = generator.client.settings
        self.deadline = time.monotonic() + max(10.0, settings.stale_generating_seconds - 15)

    def may_call_again(self) -> bool:
        """The call that crossed the budget is the last one; and there must be time left."""
        in_time = self.deadline - time.monotonic() >= self.g.client.timeout
        return in_time and (self.spend is None or not self.spend.exhausted)

    def _complete(self, purpose: str) -> Completion:
        completion = self.g.client.complete(
            self.messages,
            schema=self.schema,
            schema_name="social_post_variants",
            deadline=self.deadline,
        )
        if self.request.workspace_id is not None:
            self.spend = self.g.ledger.record(
                completion.usage,
                workspace_id=self.request.workspace_id,
                member_id=self.request.author_id,
                post_id=self.request.post_id,
                purpose=purpose,
                conversation=self.materials.conversation,
            )
        self.last = completion
        if completion.refusal:
            log.info("model refused post %s: %s", self.request.post_id, completion.refusal)
            raise ModelError("the model declined to write this post; rephrase the brief")
        return completion

    def draft(self) -> dict[str, RawVariant]:
        completion = self._complete("draft")
        try:
            return parse_variants(completion.content, self.request.networks)
        except InvalidOutput as problem:
            log.warning("model answer for post %s is invalid: %s", self.request.post_id, problem)
            if not self.may_call_again():
                raise ModelError(f"{problem}; no time or budget left to ask again") from None
            self._follow_up({"answer": f"{problem}. Answer with valid JSON only."})
            second = self._complete("repair")
            try:
                return parse_variants(second.content, self.request.networks)
            except InvalidOutput as again:
                raise ModelError(f"{again}, even after asking again") from None

    def repair(self, too_long: dict[str, str]) -> dict[str, RawVariant]:
        """One round asking for shorter variants; whatever comes back valid is used."""
        self._follow_up(too_long)
        try:
            completion = self._complete("repair")
            return parse_variants(completion.content, self.request.networks)
        except (InvalidOutput, ModelError) as exc:
            # The first draft stands; a thread or a card warning handles the length.
            log.warning("repair round for post %s failed: %s", self.request.post_id, exc)
            return {}

    def _follow_up(self, problems: dict[str, str]) -> None:
        """Our answer to the model's last turn: what to fix (its turn is kept for context)."""
        content = self.last.content if self.last is not None else None
        self.messages.append({"role": "assistant", "content": content or ""})
        self.messages.append(repair_message(problems))


def _fits(network: str, text: str, parts: Sequence[str]) -> bool:
    target = get_network(network)
    return target.fits(text) and all(target.fits(p) for p in parts)


def _too_long(composed: dict[str, Composed]) -> dict[str, str]:
    problems: dict[str, str] = {}
    for network, item in composed.items():
        if _fits(network, item.text, item.parts):
            continue
        target = get_network(network)
        longest = max([item.text, *item.parts], key=target.length)
        length = target.length(longest)
        problems[network] = (
            f"the text is {length:,} {target.unit}, over the limit of {target.limit:,} "
            f"(hashtags included). Shorten it by at least {length - target.limit:,} "
            f"{target.unit}, keeping its meaning."
        )
    return problems


def with_voice_warnings(
    variants: list[Variant], voice: BrandVoice, note: str | None = None
) -> list[Variant]:
    """Variants from another generator, with the voice's violations (and `note`) added."""
    if voice.empty and note is None:
        return variants
    out = []
    for v in variants:
        extra = ([note] if note else []) + lint(v.text, voice, v.parts)
        out.append(
            Variant(
                network=v.network,
                text=v.text,
                generator=v.generator,
                warnings=(*v.warnings, *extra),
                parts=v.parts,
                hashtags=v.hashtags,
                alt_texts=v.alt_texts,
            )
        )
    return out


class VoicedGenerator:
    """The offline generator in the workspace's voice: the voice applied to its drafts, and
    what it cannot apply (banned words, claims in the brief) as warnings."""

    def __init__(self, inner: OfflineGenerator, db: Database) -> None:
        self.inner = inner
        self.db = db
        self.label = inner.label

    def generate(self, request: GenerationRequest) -> list[Variant]:
        materials = load(self.db, request)
        variants = self.inner.generate(request, materials.voice, materials.workspace_name)
        return with_voice_warnings(variants, materials.voice)
