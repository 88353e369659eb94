"""Who may do what: one table of actions by role, checked in core on every action."""

from __future__ import annotations

import enum

from core.errors import Forbidden
from storage.models import Member, Role


class Action(enum.StrEnum):
    VIEW = "view"
    DRAFT = "draft"
    EDIT = "edit"
    REGENERATE = "regenerate"
    SCHEDULE = "schedule"
    CANCEL = "cancel"
    APPROVE = "approve"
    REJECT = "reject"
    CONFIGURE = "configure"
    # `token list all`, `token revoke <name> @person`: everyone manages their own tokens.
    OTHERS_TOKENS = "see or revoke others' API tokens"


_EVERYONE = frozenset(Role)
_WRITERS = frozenset({Role.OWNER, Role.ADMIN, Role.EDITOR, Role.APPROVER})
_APPROVERS = frozenset({Role.OWNER, Role.ADMIN, Role.APPROVER})
_ADMINS = frozenset({Role.OWNER, Role.ADMIN})

PERMISSIONS: dict[Action, frozenset[Role]] = {
    Action.VIEW: _EVERYONE,
    Action.DRAFT: _WRITERS,
    Action.EDIT: _WRITERS,
    Action.REGENERATE: _WRITERS,
    Action.SCHEDULE: _WRITERS,
    Action.CANCEL: _WRITERS,
    Action.APPROVE: _APPROVERS,
    Action.REJECT: _APPROVERS,
    Action.CONFIGURE: _ADMINS,
    Action.OTHERS_TOKENS: _ADMINS,
}

_WHO = {
    Action.APPROVE: "owners, admins and approvers",
    Action.REJECT: "owners, admins and approvers",
    Action.CONFIGURE: "owners and admins",
    Action.OTHERS_TOKENS: "owners and admins",
}


def _article(role: Role) -> str:
    return "an" if role.value[0] in "aeiou" else "a"


def allowed(member: Member, action: Action) -> bool:
    return member.role in PERMISSIONS[action]


def require(member: Member, action: Action) -> None:
    """Raise `Forbidden` with a way forward unless the member's role allows the action."""
    if allowed(member, action):
        return
    who = _WHO.get(action, "owners, admins, approvers and editors")
    raise Forbidden(
        f"You are {_article(member.role)} {member.role.value} here, "
        f"and only {who} can {action.value}. "
        f"Ask an admin: role @{member.display_name} {_ROLE_NEEDED.get(action, Role.EDITOR).value}"
    )


_ROLE_NEEDED = {
    Action.APPROVE: Role.APPROVER,
    Action.REJECT: Role.APPROVER,
    Action.CONFIGURE: Role.ADMIN,
    Action.OTHERS_TOKENS: Role.ADMIN,
}
