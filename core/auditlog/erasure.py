"""What a workspace owns, as JSON (`herald workspace export`), and erasing one person from it
(`forget @user`) without breaking the audit chain.

The export walks every table that hangs off the workspace by foreign keys. Secrets never
leave: tables of pending OAuth handshakes and tokens are skipped, and a column is left out
when it is binary, marked `sealed` or `secret` in its `info`, or named like a secret.

Forgetting replaces the person's name and platform id, wherever the export would show them,
by a pseudonym made of their member id (`person-7`): the id the audit chain already covers
(rows name actors by member id, never by name). Audit rows whose detail held the name are
rewritten and marked redacted; their hash covers the hash of the original detail, not the
detail, so the chain still verifies, and the `member.forget` row lists which rows it
redacted, so a redaction nobody made is still found (storage.auditchain.verify).
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any, cast

from sqlalchemy import (
    JSON,
    Column,
    LargeBinary,
    Select,
    String,
    Table,
    Text,
    select,
    update,
)
from sqlalchemy.orm import Session

from storage import auditchain
from storage.models import AuditEvent, Member, Role
from storage.schema import metadata

# Transient handshakes and credentials: nothing in them is the workspace's content.
SKIPPED_TABLES = frozenset({"oauth_states", "audit_chains"})
_SECRET_NAME = re.compile(r"secret|token|verifier|password|credential|totp", re.IGNORECASE)
EVENTS = cast(Table, AuditEvent.__table__)


def _secret(column: Column[Any]) -> bool:
    return (
        isinstance(column.type, LargeBinary)
        or bool(column.info.get("sealed") or column.info.get("secret"))
        or bool(_SECRET_NAME.search(column.name))
    )


def _skipped(table: Table) -> bool:
    return table.name in SKIPPED_TABLES or bool(_SECRET_NAME.search(table.name))


def owned_tables(workspace_id: int) -> Iterator[tuple[Table, Select[Any]]]:
    """Each table the workspace owns, with the query of its rows (all columns but secrets),
    parents before children."""
    ids: dict[str, Select[Any]] = {}
    workspaces = metadata.tables["workspaces"]
    ids["workspaces"] = select(workspaces.c.id).where(workspaces.c.id == workspace_id)
    for table in metadata.sorted_tables:
        if table.name == "workspaces":
            where = workspaces.c.id == workspace_id
        elif "workspace_id" in table.c:
            where = table.c.workspace_id == workspace_id
        else:
            parent = next(
                (
                    (fk.parent, fk.column.table.name)
                    for fk in table.foreign_keys
                    if fk.column.table.name in ids and not fk.parent.nullable
                ),
                None,
            )
            if parent is None:
                continue
            where = parent[0].in_(ids[parent[1]])
        if "id" in table.c:
            ids[table.name] = select(table.c.id).where(where)
        if _skipped(table):
            continue
        columns = [c for c in table.columns if not _secret(c)]
        order = list(table.primary_key.columns)
        yield table, select(*columns).where(where).order_by(*order)


def _plain(value: Any) -> Any:
    if isinstance(value, datetime):
        return value.astimezone(UTC).isoformat()
    if hasattr(value, "value") and isinstance(getattr(value, "value", None), str):
        return value.value  # an enum
    return value


def export_workspace(session: Session, workspace_id: int) -> dict[str, Any]:
    """Everything the workspace owns, table by table, secrets left out; times in UTC."""
    tables: dict[str, list[dict[str, Any]]] = {}
    for table, query in owned_tables(workspace_id):
        rows = session.execute(query).mappings()
        tables[table.name] = [{k: _plain(v) for k, v in row.items()} for row in rows]
    return {"format": "herald-workspace-export", "version": 1, "tables": tables}


# --- forgetting ------------------------------------------------------------------------------


def pseudonym(member: Member) -> str:
    return f"person-{member.id}"


class _Scrubber:
    """Replaces a person's name and id inside strings and JSON values by their pseudonym."""

    def __init__(self, needles: list[str], replacement: str) -> None:
        words = sorted({n for n in needles if n}, key=len, reverse=True)
        self.pattern = re.compile(
            "|".join(rf"(?<![\w]){re.escape(word)}(?![\w])" for word in words), re.IGNORECASE
        )
        self.replacement = replacement

    def __call__(self, value: Any) -> Any:
        if isinstance(value, str):
            return self.pattern.sub(self.replacement, value)
        if isinstance(value, list):
            return [self(item) for item in value]
        if isinstance(value, dict):
            return {self(k) if isinstance(k, str) else k: self(v) for k, v in value.items()}
        return value


def forget(session: Session, member: Member, *, now: datetime) -> list[int]:
    """Erase `member`'s name and platform id from everything the workspace owns; the seqs
    of the audit rows whose detail was redacted (for the `member.forget` row)."""
    name, handle, alias = member.display_name, member.external_id, pseudonym(member)
    scrub = _Scrubber([name, handle], alias)
    conn = session.connection()
    # Every audit row must have its place in the chain before its detail changes.
    auditchain.seal_workspace(conn, member.workspace_id)
    redacted: list[int] = []
    for table, query in owned_tables(member.workspace_id):
        if table.name == "members":
            continue
        texts = [c for c in table.columns if isinstance(c.type, String | Text | JSON)]
        texts = [c for c in texts if not _secret(c) and not c.primary_key and not c.foreign_keys]
        if table is EVENTS:
            texts = [EVENTS.c.detail]
        if not texts or not list(table.primary_key.columns):
            continue
        (pk,) = table.primary_key.columns
        extra = [EVENTS.c.seq] if table is EVENTS else []
        for row in session.execute(
            select(pk, *texts, *extra).where(pk.in_(query.with_only_columns(pk)))
        ):
            changes = {}
            for column in texts:
                old = getattr(row, column.name)
                new = scrub(old)
                if new != old:
                    changes[column.name] = new
            if not changes:
                continue
            if table is EVENTS:
                changes["redacted_at"] = now
                redacted.append(row.seq)
            conn.execute(update(table).where(pk == row[0]).values(**changes))
    member.display_name = alias
    member.external_id = alias
    member.timezone = None
    member.role = Role.VIEWER
    session.flush()
    return sorted(redacted)
