"""What people ask of their workspace: time zone, roles, settings and the brand voice."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sqlalchemy import func, select

from core import voice as brand
from core.analytics import digest_config
from core.audit import audit
from core.context import Tx
from core.errors import BadInput, Conflict, Forbidden
from core.grammar import Words, person
from core.permissions import Action, require
from core.posts.card import Message
from core.registry import Request, Spec
from core.timeparse import TimeParseError, format_when, parse_zone
from core.workspace.people import (
    TEAM_ELSEWHERE,
    alone_at_terminal,
    member_by_id,
    members_called,
    zone_of,
)
from storage.models import Member, Role, SurfaceKind, Workspace


@dataclass(frozen=True)
class SetTimezone:
    zone: str | None


@dataclass(frozen=True)
class SetRole:
    """`user` is a platform id when `verified` (a surface's mention token), else typed words."""

    user: str
    role: Role
    verified: bool = False


@dataclass(frozen=True)
class Config:
    key: str | None = None
    value: str | None = None
    digest: digest_config.DigestChoice | None = None  # `config digest …`: a change asked


@dataclass(frozen=True)
class Voice:
    setting: str | None = None
    value: str | None = None


def parse_role(words: Words) -> SetRole:
    args = words.args
    if len(args) != 2:
        raise words.fail("Name a member and a role.")
    try:
        role = Role(args[1].lower())
    except ValueError:
        raise words.fail(f'"{args[1]}" is not a role.') from None
    user, verified = person(args[0])
    return SetRole(user=user, role=role, verified=verified)


def _setting_and_value(words: Words) -> tuple[str | None, str | None]:
    key, _, value = words.rest.partition(" ")
    return key.lower() or None, value.strip() or None


def parse_config(words: Words) -> Config:
    key, value = _setting_and_value(words)
    if key == "digest":
        return Config(key, value, digest_config.parse(value, words))
    if key not in {None, "approvals-channel", "approvals_channel"}:
        raise words.fail(f'I don\'t know the setting "{key}".')
    return Config(key, value)


def set_timezone(r: Request, cmd: SetTimezone) -> Message:
    if cmd.zone:
        try:
            r.me.timezone = parse_zone(cmd.zone).key
        except TimeParseError as exc:
            raise BadInput(str(exc)) from None
    tz = zone_of(r.me, r.ws)
    now = r.tx.now
    return Message(text=f"Your time zone is {tz.key}; it is now {format_when(now, tz, now=now)}.")


def _pick_member(tx: Tx, ws: Workspace, cmd: SetRole) -> Member:
    """The member a role goes to, by the platform's verified id only.

    On the terminal the id is the name typed at login (the screen is one person's), so a bare
    name is an id there. Elsewhere a bare name is words anyone can choose as a display name:
    it never picks or creates anyone; the refusal lists who it could mean.
    """
    if cmd.verified or ws.kind == SurfaceKind.TERMINAL:
        member = member_by_id(tx, ws, cmd.user)
        if member is None:
            member = Member(
                workspace_id=ws.id,
                external_id=cmd.user,
                display_name=cmd.user,  # their own name arrives with their first message
                role=Role.VIEWER,
                created_at=tx.now,
            )
            tx.session.add(member)
        return member
    how = {
        SurfaceKind.SLACK: f"mention them, picking them from Slack's list as you type @: "
        f"role @name {cmd.role.value}",
        SurfaceKind.TELEGRAM: f"reply to a message of theirs with /role {cmd.role.value}",
    }.get(ws.kind, f"mention them: role @name {cmd.role.value}")
    candidates = members_called(tx, ws, cmd.user)
    could_be = (
        f' "{cmd.user}" could be: '
        + ", ".join(f"@{m.display_name} (id {m.external_id})" for m in candidates)
        + "."
        if candidates
        else ""
    )
    raise BadInput(
        f"I give roles only to a person the chat identifies, never by a typed name (anyone can "
        f"choose one). To be sure who gets it, {how}.{could_be}"
    )


def set_role(r: Request, cmd: SetRole) -> Message:
    tx, ws, me = r.tx, r.ws, r.me
    if alone_at_terminal(tx, ws):
        raise BadInput(
            f"The terminal chat has one person, you, so there is nobody to give a role. "
            f"{TEAM_ELSEWHERE}."
        )
    if cmd.role == Role.OWNER and me.role != Role.OWNER:
        raise Forbidden("Only an owner can make someone an owner.")
    member = _pick_member(tx, ws, cmd)
    if member.role == Role.OWNER and me.role != Role.OWNER:
        raise Forbidden(
            f"@{member.display_name} is an owner, and only an owner can change an owner's role. "
            "Ask an owner."
        )
    if member.role == Role.OWNER and cmd.role != Role.OWNER:
        owners = tx.session.scalar(
            select(func.count(Member.id)).where(
                Member.workspace_id == ws.id, Member.role == Role.OWNER
            )
        )
        if (owners or 0) <= 1:
            raise Conflict("That is the last owner. Make someone else owner first.")
    before = {"role": member.role.value} if member.id is not None else None
    member.role = cmd.role
    tx.session.flush()
    detail = {"member": member.display_name, "member_id": member.external_id}
    audit(
        tx,
        ws.id,
        "member.role",
        actor_id=me.id,
        detail={**detail, "role": cmd.role.value},
        before=before,
    )
    return Message(text=f"@{member.display_name} is now {cmd.role.value}.")


def configure(r: Request, cmd: Config) -> Message:
    """Everyone may read the settings; changing one is for admins."""
    tx, ws, me = r.tx, r.ws, r.me
    if cmd.key is None:
        channel = ws.settings.get("approvals_channel")
        where = f"#{channel}" if channel else "where each draft was asked"
        digest = digest_config.describe(tx, ws, me)
        return Message(text=f"Approval cards go to {where}.\n{digest}")
    if cmd.key == "digest":
        if cmd.digest is None:
            return Message(text=digest_config.describe(tx, ws, me))
        require(me, Action.CONFIGURE)
        return digest_config.change(tx, ws, me, cmd.digest)
    require(me, Action.CONFIGURE)
    if alone_at_terminal(tx, ws):
        raise BadInput(
            "The terminal chat has one person, so approval cards show here and need no team "
            f"channel. {TEAM_ELSEWHERE}."
        )
    value = (cmd.value or "").strip()
    channel = value.lstrip("#") or None
    before = {"approvals_channel": ws.settings.get("approvals_channel")}
    ws.settings = {**ws.settings, "approvals_channel": channel}
    audit(
        tx,
        ws.id,
        "workspace.config",
        actor_id=me.id,
        detail={"approvals_channel": channel},
        before=before,
    )
    if channel is None:
        return Message(text="Approval cards now go where each draft was asked.")
    return Message(text=f"Approval cards now go to #{channel}.")


def voice(r: Request, cmd: Voice) -> Message:
    return brand.command(r.ctx, r.tx, r.ws, r.me, cmd.setting, cmd.value)


COMMANDS: tuple[Spec[Any], ...] = (
    Spec(
        name="tz",
        kind=SetTimezone,
        usage="tz [zone, e.g. Europe/Berlin]",
        summary="show or set your time zone",
        parse=lambda w: SetTimezone(w.first()),
        handle=set_timezone,
        aliases=("timezone",),
        menu=True,
    ),
    Spec(
        name="role",
        kind=SetRole,
        usage="role @user owner|admin|editor|approver|viewer",
        summary="give a member a role (admins)",
        parse=parse_role,
        handle=set_role,
        permission=Action.CONFIGURE,
        sensitive=True,
    ),
    Spec(
        name="config",
        kind=Config,
        usage="config [approvals-channel #channel] · config digest [<day> <hour>|on|off]",
        summary="approvals channel, weekly digest",
        detail="Anyone can read the settings; admins change them. The weekly digest goes "
        "out in the workspace's time zone, e.g. config digest monday 9am.",
        parse=parse_config,
        handle=configure,
    ),
    Spec(
        name="voice",
        kind=Voice,
        usage=brand.USAGE,
        summary="the brand voice for drafts",
        detail="Anyone can read it; admins change it.",
        parse=lambda w: Voice(*_setting_and_value(w)),
        handle=voice,
    ),
)
