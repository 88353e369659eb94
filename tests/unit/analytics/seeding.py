"""Published posts with their snapshots, written into the database the way publishing and
collection will write them (core.analytics.store), without the pipeline or a worker."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from core.analytics import store
from storage.db import Database
from storage.models import (
    Member,
    Post,
    PostState,
    Role,
    SurfaceKind,
    Target,
    TargetState,
    Workspace,
)
from storage.models_analytics import MetricsSnapshot, Milestone


@dataclass
class Seeder:
    db: Database

    def workspace(self, name: str = "acme") -> int:
        with self.db.session() as s:
            ws = Workspace(kind=SurfaceKind.TERMINAL, external_id=name, name=name, settings={})
            s.add(ws)
            s.flush()
            s.add(
                Member(
                    workspace_id=ws.id, external_id="maria", display_name="maria", role=Role.OWNER
                )
            )
            return ws.id

    def post(
        self,
        workspace_id: int,
        published_at: datetime,
        *figures: tuple[str, dict[str, Any] | None],
    ) -> dict[str, int]:
        """A published post with one target per (network, figures); figures None: no
        snapshot yet. Each snapshot is taken at +24 h. Returns network → target id."""
        with self.db.session() as s:
            ws = s.get_one(Workspace, workspace_id)
            ws.post_seq += 1
            author = s.query(Member).filter_by(workspace_id=workspace_id).first()
            assert author is not None
            post = Post(
                workspace_id=workspace_id,
                number=ws.post_seq,
                author_id=author.id,
                brief="b",
                state=PostState.APPROVED,
            )
            s.add(post)
            s.flush()
            ids = {}
            for network, counts in figures:
                target = Target(
                    post_id=post.id,
                    network=network,
                    text="t",
                    state=TargetState.PUBLISHED,
                    published_at=published_at,
                    external_id=f"{network}-{post.number}",
                    external_url=f"https://{network}.example/{post.number}",
                )
                s.add(target)
                s.flush()
                store.published(s, target)
                ids[network] = target.id
                if counts is not None:
                    store.record(
                        s,
                        MetricsSnapshot(
                            target_id=target.id,
                            milestone=Milestone.DAY,
                            taken_at=published_at + timedelta(hours=24),
                            raw={},
                            **counts,
                        ),
                    )
            return ids

    def snapshot(self, target_id: int, taken_at: datetime, **counts: Any) -> bool:
        """Record a snapshot as collection does; whether it became the current figures."""
        with self.db.session() as s:
            return store.record(
                s,
                MetricsSnapshot(
                    target_id=target_id,
                    milestone=Milestone.DEMAND,
                    taken_at=taken_at,
                    raw={},
                    **counts,
                ),
            )
