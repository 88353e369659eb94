"""The second factor: TOTP codes checked before sensitive commands, once each, tries limited.

A command opts in with its `Spec`'s `sensitive` flag (core/registry.py). When its workspace's
policy asks for a second factor (`policy 2fa on`), the registry calls `guard` before the
command's own transaction: the code comes with the command (`connect x --code 123456`) or,
when it does not, Herald keeps the command (sealed) and asks; the person's next message
answers (`take_ask`). The check commits on its own, whatever the command then does: a code
is used up once accepted (no replay within its window), and a wrong one is counted (after
`MAX_FAILURES` within `LOCK`, every try waits until the window ends).
"""

from __future__ import annotations

import enum
import hmac
import re
from dataclasses import dataclass
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

import pyotp
from sqlalchemy import ColumnElement, delete, select, update

from core.context import Context, Tx
from core.errors import BadInput, Forbidden
from core.grammar import CODE_ANSWER, CODE_OPTION
from core.permissions import Action, require
from core.posts.card import Message
from core.timeparse import format_when
from core.workspace.people import Actor, resolve, zone_of
from storage.models import Member, Workspace
from storage.models_twofa import SecondFactor, SecondFactorAsk
from storage.vault import Vault, VaultError, row_context

STEP = 30  # seconds a code is shown for (RFC 6238's default, what every app uses)
DRIFT = 1  # steps either side accepted: a phone's clock a little off, a code typed late
MAX_FAILURES = 5  # wrong codes within LOCK before tries wait
LOCK = timedelta(minutes=15)
ASK_TTL = timedelta(minutes=5)  # how long Herald waits for the code it asked for
ENROL_TTL = timedelta(minutes=10)  # how long a new secret waits for its first code
POLICY_KEY = "second_factor"  # in the workspace's settings: the policy is on

_DIGITS = re.compile(r"\d{6}")


class Need(enum.Enum):
    """When a sensitive command needs a code: when the workspace's policy says (`POLICY`,
    what `sensitive=True` means), always (`ALWAYS`: `2fa off`), or always and against the
    secret being enrolled (`ENROL`: the first code, which finishes `2fa enrol`)."""

    POLICY = "policy"
    ALWAYS = "always"
    ENROL = "enrol"


def policy_on(ws: Workspace) -> bool:
    return bool(ws.settings.get(POLICY_KEY))


def split_code(text: str) -> tuple[str, str | None]:
    """The command without its `--code`, and the code (None when not given)."""
    match = CODE_OPTION.search(text)
    if match is None:
        return text, None
    code = match.group(1)
    if not _DIGITS.fullmatch(code):
        raise BadInput(
            "--code takes the 6 digits your authenticator app shows, e.g. --code 123456."
        )
    return (text[: match.start()] + text[match.end() :]).strip(), code


def answer_code(text: str) -> str | None:
    """The code when the whole message is one (an answer to Herald's ask), else None."""
    match = CODE_ANSWER.fullmatch(text.strip())
    return match.group(1) if match else None


# --- the person's factor ------------------------------------------------------------------


def factor_of(tx: Tx, actor: Actor, *, lock: bool = False) -> SecondFactor | None:
    query = select(SecondFactor).where(
        SecondFactor.surface == actor.surface.value, SecondFactor.user_id == actor.user_id
    )
    if lock:
        query = query.with_for_update()
    return tx.session.scalars(query).one_or_none()


def need_vault(ctx: Context) -> Vault:
    vault = ctx.hub.vault if ctx.hub is not None else None
    if vault is None:
        raise BadInput(
            "This Herald has no key to encrypt a second factor with. An admin sets "
            "HERALD_SECRET_KEY (herald keys new makes one); then try again."
        )
    return vault


def secret_of(ctx: Context, factor: SecondFactor) -> str:
    table = SecondFactor.__table__
    return need_vault(ctx).open_text(factor.secret, row_context(table, "secret", factor))


def seal_secret(ctx: Context, factor: SecondFactor, secret: str) -> None:
    factor.secret = need_vault(ctx).seal_text(
        secret, row_context(SecondFactor.__table__, "secret", factor)
    )


@dataclass(frozen=True)
class Verdict:
    ok: bool
    problem: str = ""


def check(
    ctx: Context, tx: Tx, factor: SecondFactor, code: str, me: Member, ws: Workspace
) -> Verdict:
    """Check `code` against the person's secret: a step newer than the last one used, within
    `DRIFT` of now. Accepting it uses it up (a conditional UPDATE: two tries of one code at
    once accept one); a wrong one is counted. The caller commits either way."""
    tz = zone_of(me, ws)
    if factor.failed_since is not None and factor.failed_since + LOCK <= tx.now:
        factor.failures, factor.failed_since = 0, None
    if factor.failures >= MAX_FAILURES and factor.failed_since is not None:
        until = factor.failed_since + LOCK
        return Verdict(False, _locked(until, tx.now, tz))
    try:
        totp = pyotp.TOTP(secret_of(ctx, factor), interval=STEP)
    except VaultError:
        return Verdict(
            False,
            "I couldn't read your second factor back: this Herald's key changed. Set it up "
            "again with 2fa enrol.",
        )
    now_step = int(tx.now.timestamp()) // STEP
    matched = [
        step
        for step in range(now_step - DRIFT, now_step + DRIFT + 1)
        if hmac.compare_digest(totp.generate_otp(step), code)
    ]
    if matched and max(matched) > factor.last_step:
        step = max(matched)
        taken = tx.session.execute(
            update(SecondFactor)
            .where(SecondFactor.id == factor.id, SecondFactor.last_step < step)
            .values(last_step=step, failures=0, failed_since=None)
        ).rowcount  # type: ignore[attr-defined]
        if taken == 1:
            tx.session.refresh(factor)
            return Verdict(True)
    replay = bool(matched)
    factor.failures += 1
    if factor.failed_since is None:
        factor.failed_since = tx.now
    tx.session.flush()
    if factor.failures >= MAX_FAILURES:
        return Verdict(False, _locked(factor.failed_since + LOCK, tx.now, tz, wrong=True))
    left = MAX_FAILURES - factor.failures
    what = (
        "That code was used already; each code works once. Wait for the next one in your app"
        if replay
        else "That code is wrong. Check your app's clock and send the code it shows now"
    )
    tries = "1 more try" if left == 1 else f"{left} more tries"
    return Verdict(False, f"{what} ({tries} in the next {int(LOCK.total_seconds() // 60)} min).")


def _locked(until: datetime, now: datetime, tz: ZoneInfo, *, wrong: bool = False) -> str:
    wait = max(1, -(-int((until - now).total_seconds()) // 60))
    first = "That code is wrong, and that" if wrong else "That"
    return (
        f"{first} was {MAX_FAILURES} wrong codes in a row, so I take no code for {wait} min: "
        f"try again after {format_when(until, tz, now=now)}."
    )


# --- the ask: a sensitive command waiting for its code --------------------------------------


def _ask_context(actor: Actor) -> str:
    table = SecondFactorAsk.__table__
    row = {
        "surface": actor.surface.value,
        "workspace": actor.workspace_id,
        "user_id": actor.user_id,
    }
    return row_context(table, "command", row)


def keep_ask(ctx: Context, tx: Tx, actor: Actor, text: str, ttl: timedelta = ASK_TTL) -> datetime:
    """Keep `text` (sealed) until the person's next message brings its code; replaces any."""
    sealed = need_vault(ctx).seal_text(text, _ask_context(actor))
    until = tx.now + ttl
    tx.session.execute(delete(SecondFactorAsk).where(*_asker(actor)))
    tx.session.add(
        SecondFactorAsk(
            surface=actor.surface.value,
            workspace=actor.workspace_id,
            user_id=actor.user_id,
            command=sealed,
            until=until,
            created_at=tx.now,
        )
    )
    return until


def _asker(actor: Actor) -> tuple[ColumnElement[bool], ...]:
    return (
        SecondFactorAsk.surface == actor.surface.value,
        SecondFactorAsk.workspace == actor.workspace_id,
        SecondFactorAsk.user_id == actor.user_id,
    )


@dataclass(frozen=True)
class Ask:
    text: str  # the command as typed ("" when it could not be read back)
    expired: bool


def take_ask(ctx: Context, actor: Actor) -> Ask | None:
    """The command waiting for this person's code, removed: their next message answers it,
    whatever it is. Every message pays one indexed read; only a waiting one a write."""
    with ctx.db.lean.connect() as conn:
        waiting = conn.execute(select(SecondFactorAsk.id).where(*_asker(actor))).first()
    if waiting is None:
        return None
    with ctx.tx() as tx:
        row = tx.session.execute(
            delete(SecondFactorAsk)
            .where(*_asker(actor))
            .returning(SecondFactorAsk.command, SecondFactorAsk.until)
        ).first()
        if row is None:  # taken a moment ago by another message of theirs
            return None
        sealed, until = row
        try:
            text = need_vault(ctx).open_text(sealed, _ask_context(actor))
        except (BadInput, VaultError):
            text = ""
        return Ask(text=text, expired=until <= tx.now)


# --- the guard the registry calls -----------------------------------------------------------


def guard(
    ctx: Context,
    actor: Actor,
    permission: Action | None,
    *,
    code: str | None,
    text: str | None,
    what: str,
    need: Need = Need.POLICY,
) -> Message | None:
    """None to go on; else what to answer instead (the ask for a code, or the refusal)."""
    with ctx.tx() as tx:
        ws, me = resolve(tx, actor, ctx.settings.timezone)
        if permission is not None:
            require(me, permission)  # someone who may not do it at all is not asked a code
        if need == Need.POLICY and not policy_on(ws):
            return None
        factor = factor_of(tx, actor, lock=True)
        if factor is None or (factor.confirmed_at is None) != (need == Need.ENROL):
            if need == Need.ENROL:
                raise BadInput(
                    "There is no second factor waiting for its first code. Start with: 2fa enrol"
                )
            if need == Need.ALWAYS:
                raise BadInput(
                    "You have no second factor to switch off. Set one up with: 2fa enrol"
                )
            raise Forbidden(
                f"This workspace asks for a second factor to {what}, and you have none yet. "
                "Set one up with: 2fa enrol (I send it to you privately)."
            )
        if code is None:
            if text is None:
                raise BadInput(
                    f"To {what}, type the command with the code from your authenticator app "
                    "at its end: --code 123456."
                )
            until = keep_ask(ctx, tx, actor, text)
            wait = int(ASK_TTL.total_seconds() // 60)
            return Message(
                text=f"🔐 To {what}, send me the 6-digit code from your authenticator app "
                f"(within {wait} min, until {format_when(until, zone_of(me, ws), now=tx.now)}). "
                "Your next message is taken as the code; anything else drops the request."
            )
        verdict = check(ctx, tx, factor, code, me, ws)
        if verdict.ok:
            return None
        if text is not None and factor.failures < MAX_FAILURES:
            keep_ask(ctx, tx, actor, text)  # a code mistyped: the next message may be the right one
            return Message(text=f"{verdict.problem} Send the right one now.", error=True)
        return Message(text=verdict.problem, error=True)
