"""Small helpers for tests: who is talking, waiting on rows, reading outbound messages,
counting files."""

from __future__ import annotations

import json
import os
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import TypeVar

from sqlalchemy import func, select

from bot.runtime import Runtime
from core.posts.card import Card, Message, VariantView
from core.settings import Settings
from core.workspace.people import Actor
from storage.models import AuditEvent, OutboundMessage, Post, SurfaceKind, Target
from storage.schema import metadata
from storage.vault import new_key

T = TypeVar("T")


def actor(name: str = "maria", *, workspace: str = "local") -> Actor:
    """Someone at the terminal of workspace `workspace` (its name is "Test")."""
    return Actor(
        surface=SurfaceKind.TERMINAL,
        workspace_id=workspace,
        workspace_name="Test",
        user_id=name,
        user_name=name,
        conversation="terminal",
    )


def eventually(check: Callable[[], T], timeout: float = 20.0, what: str = "condition") -> T:
    deadline = time.monotonic() + timeout
    while True:
        value = check()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.05)


def post_state(rt: Runtime, number: int) -> str | None:
    with rt.db.session() as s:
        post = s.scalars(select(Post).where(Post.number == number)).first()
        return post.state.value if post else None


def target_states(rt: Runtime, number: int) -> dict[str, str]:
    with rt.db.session() as s:
        rows = s.execute(
            select(Target.network, Target.state).join(Post).where(Post.number == number)
        ).all()
        return {network: state.value for network, state in rows}


def messages(rt: Runtime) -> list[Message]:
    with rt.db.session() as s:
        rows = s.scalars(select(OutboundMessage).order_by(OutboundMessage.id)).all()
        return [Message.from_payload(r.payload) for r in rows]


def outbox_files(rt: Runtime) -> list[dict[str, object]]:
    folder: Path = rt.settings.outbox_dir
    if not folder.exists():
        return []
    return [json.loads(p.read_text()) for p in sorted(folder.glob("*.json"))]


def snapshot(rt: Runtime) -> dict[str, object]:
    """Everything a refused command must leave untouched."""
    with rt.db.session() as s:
        posts = s.execute(
            select(Post.number, Post.state, Post.revision, Post.planned_at).order_by(Post.id)
        ).all()
        targets = s.execute(
            select(Target.id, Target.state, Target.text, Target.scheduled_at).order_by(Target.id)
        ).all()
        audits = s.scalar(select(func.count(AuditEvent.id)))
    return {
        "posts": [tuple(r) for r in posts],
        "targets": [tuple(r) for r in targets],
        "audits": audits,
        "files": len(outbox_files(rt)),
    }


def herald_env(settings: Settings, **more: str) -> dict[str, str]:
    """The environment for a `herald` subprocess on the same data, database and queue."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("HERALD_")}
    env.update(
        HERALD_DATA_DIR=str(settings.data_dir),
        HERALD_TICK_SECONDS="0.3",
        HERALD_QUEUE=settings.queue,
        **more,
    )
    # A server process on PostgreSQL refuses to start without a real key.
    key = settings.secret_key.get_secret_value() if settings.secret_key else new_key()
    env.setdefault("HERALD_SECRET_KEY", key)
    if settings.database_url:
        env["HERALD_DATABASE_URL"] = settings.database_url
    if settings.broker_url:
        env["HERALD_BROKER_URL"] = settings.broker_url
    return env


def hostile_card(text: str, url: str | None = None) -> Card:
    """A card whose every field people or a network fill holds `text` (the URL `url`)."""
    return Card(
        number=8,
        title=f"#8 · Draft by @{text} · for X",
        brief=text,
        variants=[
            VariantView(
                "x",
                "X",
                text,
                90,
                280,
                "characters",
                "failed",
                warnings=[text],
                url=url or f"https://x.com/{text}",
                reason=text,
                media=[text],
            )
        ],
        when=text,
        status=text,
        buttons=[],
        note=text,
    )


def slack_actor(user_id: str, name: str) -> Actor:
    return Actor(
        surface=SurfaceKind.SLACK,
        workspace_id="T1",
        workspace_name="Acme",
        user_id=user_id,
        user_name=name,
        conversation="C1",
    )


def accept_together(
    rt: Runtime, texts: list[str], who: list[Actor] | None = None
) -> list[int | Exception | None]:
    """Each text accepted from its own thread, all released at once (as a burst of acks)."""
    people = who or [actor("maria")] * len(texts)
    barrier = threading.Barrier(len(texts))
    results: list[int | Exception | None] = [0] * len(texts)

    def one(i: int) -> None:
        barrier.wait()
        try:
            results[i] = rt.herald.accept(people[i], texts[i])
        except Exception as exc:  # noqa: BLE001 - the test looks at what each caller got
            results[i] = exc

    threads = [threading.Thread(target=one, args=(i,)) for i in range(len(texts))]
    for t in threads:
        t.start()
    for t in threads:
        t.join(30)
    return results


def dump(rt) -> str:
    """Every column of every table, as text (bytes both raw-decoded and as hex)."""
    out = []
    with rt.db.engine.connect() as conn:
        for table in metadata.sorted_tables:
            for row in conn.execute(select(table)):
                for value in row:
                    if isinstance(value, bytes):
                        out.append(value.decode("latin-1"))
                    else:
                        out.append(repr(value))
    return "\n".join(out)
