"""What a generator reads from the database for one request: the workspace's voice, the drafts
being regenerated, attached media, where to talk, and approvers' recent edits as examples.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from core.generation.prompts import DraftContext, EditExample
from core.ports import GenerationRequest
from core.voice import BrandVoice, load_voice
from storage.db import Database
from storage.models import AuditEvent, Post, PostState, Workspace

EXAMPLES = 5  # the most recent approved edits shown to the model
EXAMPLE_CHARS = 1500
_THREAD = re.compile(r"\bthread\b", re.IGNORECASE)


@dataclass(frozen=True)
class Materials:
    context: DraftContext = field(default_factory=DraftContext)
    conversation: str | None = None
    workspace_name: str = ""
    media_count: int = 0

    @property
    def voice(self) -> BrandVoice:
        return self.context.voice


def load(db: Database, request: GenerationRequest) -> Materials:
    if request.workspace_id is None:
        return Materials(context=DraftContext(thread=_wants_thread(request)))
    with db.session() as session:
        workspace = session.get(Workspace, request.workspace_id)
        voice = load_voice(workspace.settings if workspace else None)
        post = session.get(Post, request.post_id) if request.post_id is not None else None
        media = tuple(_media(item) for item in (post.media if post else []) or [])
        current = (
            {t.network: t.text for t in post.targets if t.text}
            if post is not None and request.feedback
            else {}
        )
        examples = recent_edits(session, request.workspace_id, exclude_post=request.post_id)
        return Materials(
            context=DraftContext(
                voice=voice,
                examples=examples,
                media=media,
                current=current,
                thread=_wants_thread(request),
            ),
            conversation=post.conversation if post else None,
            workspace_name=workspace.name if workspace else request.workspace_name,
            media_count=len(media),
        )


def _wants_thread(request: GenerationRequest) -> bool:
    return "x" in request.networks and bool(
        _THREAD.search(request.brief) or _THREAD.search(request.feedback or "")
    )


def _media(item: dict[str, Any]) -> dict[str, Any]:
    """Only what helps describe the media; never storage keys or URLs with tokens."""
    name = str(item.get("filename") or item.get("source") or item.get("key") or "")
    return {
        "type": str(item.get("content_type") or "image"),
        "name": name.rsplit("/", 1)[-1].split("?", 1)[0][:100],
        "alt": str(item.get("alt") or "")[:300],
    }


def recent_edits(
    session: Session, workspace_id: int, *, exclude_post: int | None = None
) -> tuple[EditExample, ...]:
    """(draft, final) pairs from edits to posts that were then approved, newest first.

    Several edits of one network of one post make one pair: the text before the first edit
    and the text after the last.
    """
    rows = session.execute(
        select(AuditEvent.post_id, AuditEvent.detail)
        .join(Post, Post.id == AuditEvent.post_id)
        .where(
            AuditEvent.workspace_id == workspace_id,
            AuditEvent.action == "post.edit",
            Post.state == PostState.APPROVED,
        )
        .order_by(AuditEvent.id.desc())
        .limit(EXAMPLES * 10)
    ).all()
    pairs: dict[tuple[int, str], list[str]] = {}
    for post_id, detail in rows:
        if post_id is None or post_id == exclude_post or not isinstance(detail, dict):
            continue
        network, before, after = detail.get("network"), detail.get("before"), detail.get("after")
        if not (isinstance(network, str) and isinstance(before, str) and isinstance(after, str)):
            continue
        key = (post_id, network)
        if key in pairs:
            pairs[key][0] = before  # an older edit: its "before" is closer to the draft
        else:
            pairs[key] = [before, after]
    examples = [
        EditExample(network, draft[:EXAMPLE_CHARS], final[:EXAMPLE_CHARS])
        for (_, network), (draft, final) in pairs.items()
        if draft.strip() and draft.strip() != final.strip()
    ]
    return tuple(examples[:EXAMPLES])
