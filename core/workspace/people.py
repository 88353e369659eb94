"""Who is talking: workspaces and members resolved from a surface's verified ids; their posts."""

from __future__ import annotations

from dataclasses import dataclass
from zoneinfo import ZoneInfo

from sqlalchemy import func, select, update
from sqlalchemy.exc import IntegrityError

from core.context import Tx
from core.errors import BadInput, NotFound
from core.timeparse import TimeParseError, parse_zone
from storage.models import Member, Post, Role, SurfaceKind, Workspace


@dataclass(frozen=True)
class Actor:
    """A verified person on a surface. Ids come from the platform, never from message content."""

    surface: SurfaceKind
    workspace_id: str
    workspace_name: str
    user_id: str
    user_name: str
    conversation: str
    timezone: str | None = None
    role_hint: Role | None = None
    # Others in the conversation see the answer (a Telegram group, a Slack channel thread):
    # anything meant for this person alone goes to them privately instead.
    shared: bool = False


def _get_or_create_workspace(tx: Tx, actor: Actor, default_tz: str) -> Workspace:
    query = select(Workspace).where(
        Workspace.kind == actor.surface, Workspace.external_id == actor.workspace_id
    )
    workspace = tx.session.scalars(query).one_or_none()
    if workspace is not None:
        return workspace
    workspace = Workspace(
        kind=actor.surface,
        external_id=actor.workspace_id,
        name=actor.workspace_name,
        timezone=default_tz,
        post_seq=0,
        # A terminal, or a private chat (its id is its one user's), is one person's: approving
        # your own drafts there is the normal case.
        self_approval=actor.surface == SurfaceKind.TERMINAL or actor.workspace_id == actor.user_id,
        approvals_required=1,
        default_networks="outbox",
        settings={},
        created_at=tx.now,
    )
    try:
        with tx.session.begin_nested():
            tx.session.add(workspace)
    except IntegrityError:  # created a moment ago by a concurrent first message
        return tx.session.scalars(query).one()
    return workspace


def resolve(tx: Tx, actor: Actor, default_tz: str) -> tuple[Workspace, Member]:
    workspace = _get_or_create_workspace(tx, actor, default_tz)
    query = select(Member).where(
        Member.workspace_id == workspace.id, Member.external_id == actor.user_id
    )
    member = tx.session.scalars(query).one_or_none()
    if member is None:
        has_members = tx.session.scalars(
            select(Member.id).where(Member.workspace_id == workspace.id).limit(1)
        ).first()
        role = Role.OWNER if has_members is None else (actor.role_hint or Role.EDITOR)
        member = Member(
            workspace_id=workspace.id,
            external_id=actor.user_id,
            display_name=actor.user_name,
            role=role,
            timezone=actor.timezone,
            created_at=tx.now,
        )
        try:
            with tx.session.begin_nested():
                tx.session.add(member)
        except IntegrityError:
            member = tx.session.scalars(query).one()
    elif member.display_name != actor.user_name:
        member.display_name = actor.user_name
    return workspace, member


def zone_of(member: Member | None, workspace: Workspace) -> ZoneInfo:
    name = (member.timezone if member else None) or workspace.timezone
    try:
        return parse_zone(name)
    except TimeParseError:
        return ZoneInfo("UTC")


def next_post_number(tx: Tx, workspace: Workspace) -> int:
    number = tx.session.execute(
        update(Workspace)
        .where(Workspace.id == workspace.id)
        .values(post_seq=Workspace.post_seq + 1)
        .returning(Workspace.post_seq)
    ).scalar_one()
    return int(number)


def find_post(tx: Tx, workspace: Workspace, number: int, *, lock: bool = False) -> Post:
    query = select(Post).where(Post.workspace_id == workspace.id, Post.number == number)
    if lock:
        query = query.with_for_update(of=Post).execution_options(populate_existing=True)
    post = tx.session.scalars(query).one_or_none()
    if post is None:
        raise NotFound(f"There is no post #{number} here. Type queue to see the current ones.")
    return post


def alone_at_terminal(tx: Tx, workspace: Workspace) -> bool:
    """A terminal workspace nobody else has joined (with `herald chat --user NAME`): team
    settings make no sense there, and some would lock its one person out."""
    if workspace.kind != SurfaceKind.TERMINAL:
        return False
    people = tx.session.scalar(
        select(func.count(Member.id)).where(Member.workspace_id == workspace.id)
    )
    return (people or 0) <= 1


TEAM_ELSEWHERE = (
    "For a team, use Slack or Telegram, or let a second person in here first: "
    "herald chat --user NAME"
)


def member_by_id(tx: Tx, workspace: Workspace, external_id: str) -> Member | None:
    """The member with this platform id: the only way a command picks a person."""
    return tx.session.scalars(
        select(Member).where(Member.workspace_id == workspace.id, Member.external_id == external_id)
    ).one_or_none()


def members_called(tx: Tx, workspace: Workspace, name: str) -> list[Member]:
    """Members whose name or id reads like `name` (any case): candidates to show, never to pick,
    since anyone can choose a display name."""
    lowered = name.lstrip("@").lower()
    return list(
        tx.session.scalars(
            select(Member)
            .where(
                Member.workspace_id == workspace.id,
                (func.lower(Member.display_name) == lowered)
                | (func.lower(Member.external_id) == lowered),
            )
            .order_by(Member.id)
            .limit(10)
        )
    )


def find_person(tx: Tx, workspace: Workspace, user: str, verified: bool, *, exact: bool) -> Member:
    """The member a command names: by the platform's verified id (on the terminal, ids are the
    names people log in with). When `exact` is False (reading, never changing), a typed name
    also does when it means one person; otherwise a refusal lists who it could be."""
    if verified or workspace.kind == SurfaceKind.TERMINAL:
        member = member_by_id(tx, workspace, user)
        if member is not None:
            return member
    candidates = members_called(tx, workspace, user)
    if not exact and len(candidates) == 1:
        return candidates[0]
    if not candidates:
        raise BadInput(
            f"Nobody called @{user} is in this workspace. Mention them as the chat lists them."
        )
    names = ", ".join(f"@{m.display_name} (id {m.external_id})" for m in candidates)
    raise BadInput(
        f"To be sure who you mean, mention them, picking them from the chat's list as you "
        f'type @. "{user}" could be: {names}.'
    )
