"""`stats export`: a period's published targets as CSV, one row each, safe to open in a
spreadsheet.

Columns: the post's number, the network, when it went out (UTC, ISO 8601), its link, the
figures (empty where the network does not report one, and all empty before the first reading),
the engagement rate (interactions / impressions, as a fraction), whether it was deleted on the
network, and when the figures were read (UTC; empty: not read yet).

A cell that starts with = + - @, a tab or a carriage return would be run as a formula by
Excel, LibreOffice and Google Sheets; it is written with a ' in front (OWASP's advice on CSV
injection). Links and names come from the networks, so no cell is trusted.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import NamedTuple

from sqlalchemy import select
from sqlalchemy.orm import Session

from storage.models import Target
from storage.models_analytics import LatestFigures

COLUMNS = (
    "post",
    "network",
    "published_at_utc",
    "link",
    "impressions",
    "likes",
    "reposts",
    "replies",
    "quotes",
    "clicks",
    "engagement_rate",
    "gone",
    "measured_at_utc",
)
FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")


class Row(NamedTuple):
    """One published target and its newest figures, as the file has it."""

    post: int
    network: str
    published_at: datetime
    link: str | None
    impressions: int | None
    likes: int
    reposts: int
    replies: int
    quotes: int
    clicks: int | None
    gone: bool
    measured_at: datetime | None

    @property
    def interactions(self) -> int:
        return self.likes + self.reposts + self.replies + self.quotes + (self.clicks or 0)

    @property
    def engagement_rate(self) -> float | None:
        if not self.impressions:
            return None
        return self.interactions / self.impressions


def rows(
    session: Session,
    workspace_id: int,
    start: datetime,
    end: datetime,
    *,
    network: str | None = None,
) -> list[Row]:
    """The workspace's targets published in [start, end), oldest first."""
    f = LatestFigures
    query = (
        select(
            f.post_number,
            f.network,
            f.published_at,
            Target.external_url,
            f.impressions,
            f.likes,
            f.reposts,
            f.replies,
            f.quotes,
            f.clicks,
            f.gone,
            f.taken_at,
        )
        .join(Target, Target.id == f.target_id)
        .where(f.workspace_id == workspace_id, f.published_at >= start, f.published_at < end)
        .order_by(f.published_at, f.post_number, f.network)
    )
    if network is not None:
        query = query.where(f.network == network)
    return [Row._make(row) for row in session.execute(query)]


def safe(cell: str) -> str:
    """The cell as a spreadsheet will show it, never run it."""
    return "'" + cell if cell.startswith(FORMULA_STARTS) else cell


def _utc(instant: datetime | None) -> str:
    return "" if instant is None else instant.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _number(value: int | None) -> str:
    return "" if value is None else str(value)


def to_csv(found: Sequence[Row]) -> bytes:
    """The file: a header, then one line per row (RFC 4180, UTF-8)."""
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(COLUMNS)
    for row in found:
        measured = row.measured_at is not None
        rate = row.engagement_rate if measured else None
        figures = (
            [row.impressions, row.likes, row.reposts, row.replies, row.quotes, row.clicks]
            if measured
            else [None] * 6
        )
        cells = [
            str(row.post),
            row.network,
            _utc(row.published_at),
            row.link or "",
            *(_number(value) for value in figures),
            "" if rate is None else f"{rate:.4f}",
            "yes" if row.gone else "no",
            _utc(row.measured_at),
        ]
        writer.writerow([safe(cell) for cell in cells])
    return out.getvalue().encode("utf-8")
