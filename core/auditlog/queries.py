"""Reading the audit log: the rows `audit` shows and the CSV `audit export` sends."""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from core.analytics.export import safe
from storage.models import AuditEvent, Member, Post

COLUMNS = (
    "seq",
    "at_utc",
    "actor",
    "actor_id",
    "surface",
    "action",
    "post",
    "target_id",
    "from_state",
    "to_state",
    "detail",
    "hash",
    "prev_hash",
)


@dataclass(frozen=True)
class Line:
    """One audit row as people see it."""

    seq: int | None
    at: datetime
    actor: str | None  # the member's display name; None: a job
    actor_id: int | None
    surface: str
    action: str
    post: int | None  # the post's number in the workspace
    target_id: int | None
    from_state: str | None
    to_state: str | None
    detail: dict[str, Any]
    hash: str | None
    prev_hash: str | None


def lines(
    session: Session,
    workspace_id: int,
    default_surface: str,
    *,
    post_id: int | None = None,
    actor_id: int | None = None,
    since: datetime | None = None,
    until: datetime | None = None,
    limit: int | None = None,
) -> list[Line]:
    """The workspace's audit rows, newest first when `limit` is given (the chat's view), else
    oldest first (the file)."""
    e = AuditEvent
    query = (
        select(e, Member.display_name, Post.number)
        .outerjoin(Member, Member.id == e.actor_id)
        .outerjoin(Post, Post.id == e.post_id)
        .where(e.workspace_id == workspace_id)
    )
    if post_id is not None:
        query = query.where(e.post_id == post_id)
    if actor_id is not None:
        query = query.where(e.actor_id == actor_id)
    if since is not None:
        query = query.where(e.created_at >= since)
    if until is not None:
        query = query.where(e.created_at < until)
    newest_first = query.order_by(e.id.desc()).limit(limit)
    query = newest_first if limit is not None else query.order_by(e.id)
    found = []
    for row, name, number in session.execute(query):
        surface = row.surface or (default_surface if row.actor_id is not None else "job")
        found.append(
            Line(
                seq=row.seq,
                at=row.created_at,
                actor=name,
                actor_id=row.actor_id,
                surface=surface,
                action=row.action,
                post=number,
                target_id=row.target_id,
                from_state=row.from_state,
                to_state=row.to_state,
                detail=dict(row.detail or {}),
                hash=row.hash,
                prev_hash=row.prev_hash,
            )
        )
    return found


def _utc(instant: datetime) -> str:
    return instant.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def to_csv(found: Sequence[Line]) -> bytes:
    """The file: a header, then one line per row, oldest first (RFC 4180, UTF-8); cells a
    spreadsheet would run as formulas are written with a ' in front."""
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(COLUMNS)
    for line in found:
        cells = [
            "" if line.seq is None else str(line.seq),
            _utc(line.at),
            line.actor or "",
            "" if line.actor_id is None else str(line.actor_id),
            line.surface,
            line.action,
            "" if line.post is None else str(line.post),
            "" if line.target_id is None else str(line.target_id),
            line.from_state or "",
            line.to_state or "",
            json.dumps(line.detail, sort_keys=True, ensure_ascii=False) if line.detail else "",
            line.hash or "",
            line.prev_hash or "",
        ]
        writer.writerow([safe(cell) for cell in cells])
    return out.getvalue().encode("utf-8")
