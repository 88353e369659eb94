"""The generation job: draft every network's text for a post, then send it for approval.

Safe to run twice: a post no longer `generating`, or at a newer revision (a regenerate came
in meanwhile), is left alone.
"""

from __future__ import annotations

import logging

from core.context import Context
from core.messaging.say import notify
from core.networks import length_problem
from core.ports import GenerationRequest
from core.posts.card import Message, build_card
from core.posts.lifecycle import move
from core.scheduling import best
from core.workspace.people import zone_of
from storage.models import Post, PostState

log = logging.getLogger(__name__)
P = PostState


def generate(ctx: Context, post_id: int) -> None:
    with ctx.tx() as tx:
        post = tx.session.get(Post, post_id)
        if post is None or post.state != P.GENERATING:
            return
        revision = post.revision
        request = GenerationRequest(
            brief=post.brief,
            networks=tuple(t.network for t in post.targets),
            workspace_name=post.workspace.name,
            post_number=post.number,
            feedback=post.feedback,
            workspace_id=post.workspace_id,
            post_id=post.id,
            author_id=post.author_id,
        )
    try:
        variants = ctx.generator.generate(request)
        by_network = {v.network: v for v in variants}
        missing = [n for n in request.networks if n not in by_network]
        if missing:
            raise ValueError(f"the generator returned nothing for {', '.join(missing)}")
    except Exception as exc:
        log.exception("generation failed for post %s", post_id)
        _generation_failed(ctx, post_id, revision, exc)
        return
    with ctx.tx() as tx:
        post = tx.session.get(Post, post_id)
        if post is None or post.state != P.GENERATING or post.revision != revision:
            return  # cancelled, or a newer regenerate owns this post now
        for target in post.targets:
            variant = by_network[target.network]
            warnings = list(variant.warnings)
            problem = length_problem(target.network, variant.text)
            if problem is not None:
                warnings.append(f"⚠ {problem} Edit it before it can be published.")
            target.text = variant.text
            target.parts = list(variant.parts)
            if variant.alt_texts and target.media:
                # The model's alt-text suggestions fill in what the person left empty.
                target.media = [
                    {**item, "alt": item.get("alt") or alt}
                    for item, alt in zip(target.media, variant.alt_texts, strict=False)
                ] + list(target.media[len(variant.alt_texts) :])
            target.warnings = {"items": warnings}
        move(tx.session, post, "submit", now=tx.now, detail={"generator": ctx.generator.label})
        tx.session.refresh(post)
        ws = post.workspace
        notes = [best.note(tx, post)]
        if ctx.generator.label == "offline":
            notes.append("Offline template: set HERALD_LLM_BASE_URL to draft with a model.")
        card = build_card(
            post,
            tz=zone_of(post.author, ws),
            now=tx.now,
            status="Waiting for approval",
            note="\n".join(n for n in notes if n) or None,
        )
        notify(tx, post, Message(card=card, post_number=post.number))


def _generation_failed(ctx: Context, post_id: int, revision: int, exc: Exception) -> None:
    with ctx.tx() as tx:
        post = tx.session.get(Post, post_id)
        if post is None or post.state != P.GENERATING or post.revision != revision:
            return
        problem = f"Drafting failed: {exc}"[:500]
        move(tx.session, post, "generation_failed", now=tx.now, problem=problem)
        notify(
            tx,
            post,
            Message(
                text=f"⚠ I couldn't draft #{post.number}: {exc}. Try again: regenerate "
                f"{post.number}",
                error=True,
                post_number=post.number,
            ),
        )
