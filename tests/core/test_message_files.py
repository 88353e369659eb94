"""Files that travel with messages, on both databases: kept beside the message (never in its
JSON), read back with it, gone with it; a file over the cap refused with words that say why,
and nothing written; old files swept."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import delete, func, select, update

from bot.runtime import Runtime
from core.errors import BadInput
from core.messaging import feed
from core.posts.card import MAX_FILE_BYTES, Attachment, Message
from storage.models import OutboundMessage, SurfaceKind
from storage.models_files import MessageFile
from tests.support.files import CSV, chart, export, say_to, with_files
from tests.support.helpers import actor


def _files(rt: Runtime) -> list[tuple[int, str, str, str, bytes]]:
    with rt.db.session() as s:
        rows = s.scalars(select(MessageFile).order_by(MessageFile.id)).all()
        return [(r.message_id, r.name, r.mime, r.title, r.data) for r in rows]


def test_a_message_keeps_its_files_beside_it_and_they_go_with_it(idle_runtime: Runtime) -> None:
    rt = idle_runtime
    workspace_id = rt.herald.workspace_of(actor())
    message_id = say_to(rt, SurfaceKind.TERMINAL, "local", with_files(), conversation="terminal")
    png, csv = chart(), export()
    assert _files(rt) == [
        (message_id, png.name, "image/png", png.title, png.data),
        (message_id, csv.name, "text/csv", csv.title, CSV),
    ]
    with rt.db.session() as s:
        payload = s.get(OutboundMessage, message_id).payload  # type: ignore[union-attr]
    assert "files" not in payload  # the JSON stays small: the bytes live in their own rows
    assert payload["text"] == "📈 Last 7 days: 4,320 impressions"

    ((seen_id, seen),) = feed.outbound_after(rt.herald.ctx, workspace_id, message_id - 1)
    assert seen_id == message_id
    assert seen.text == "📈 Last 7 days: 4,320 impressions"
    assert seen.files == (png, csv)  # names, types, titles and the exact bytes, in order

    with rt.db.session() as s:
        s.execute(delete(OutboundMessage).where(OutboundMessage.id == message_id))
    assert _files(rt) == []  # a message takes its files with it


def test_a_file_over_ten_megabytes_is_refused_and_nothing_is_written(
    idle_runtime: Runtime,
) -> None:
    rt = idle_runtime
    rt.herald.workspace_of(actor())
    with pytest.raises(BadInput) as refused:
        say_to(
            rt,
            SurfaceKind.TERMINAL,
            "local",
            Message(
                text="Your export",
                files=(export(), Attachment("herald-90d.csv", "text/csv", b"x" * 13_000_000)),
            ),
            conversation="terminal",
        )
    assert str(refused.value) == (
        "I can't send herald-90d.csv: it is 12.4 MB, and a file in chat may be at most 10 MB. "
        "Ask for less, e.g. a shorter period."
    )
    # Exactly at the cap is fine; a byte more is not.
    Attachment("edge.csv", "text/csv", b"x" * MAX_FILE_BYTES)
    with pytest.raises(BadInput, match=r"10\.1 MB"):
        Attachment("edge.csv", "text/csv", b"x" * (MAX_FILE_BYTES + 1))
    with pytest.raises(BadInput, match="at most 10 files with one message, not 11"):
        Message(text="many", files=(export(),) * 11)
    with rt.db.session() as s:
        assert s.scalar(select(func.count(OutboundMessage.id))) == 0
    assert _files(rt) == []


def test_the_sweeper_drops_files_older_than_a_day(idle_runtime: Runtime) -> None:
    rt = idle_runtime
    rt.herald.workspace_of(actor())
    old = say_to(rt, SurfaceKind.TERMINAL, "local", with_files(), conversation="terminal")
    fresh = say_to(rt, SurfaceKind.TERMINAL, "local", with_files(), conversation="terminal")
    with rt.db.session() as s:
        s.execute(
            update(MessageFile)
            .where(MessageFile.message_id == old)
            .values(created_at=datetime.now(UTC) - timedelta(hours=25))
        )
    rt.herald.sweep()
    assert [row[0] for row in _files(rt)] == [fresh, fresh]
    with rt.db.session() as s:  # the messages themselves stay (the chat's history)
        assert s.scalar(select(func.count(OutboundMessage.id))) == 2
