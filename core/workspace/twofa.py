"""What people ask of their second factor: `2fa enrol`, `2fa off`, `2fa`, and `code`."""

from __future__ import annotations

import io
from dataclasses import dataclass
from typing import Any

import pyotp
from sqlalchemy import delete

from core.audit import audit
from core.errors import BadInput
from core.grammar import CODE_ANSWER, Words
from core.messaging.say import say
from core.posts.card import Attachment, Message
from core.registry import Request, Spec
from core.timeparse import format_when
from core.workspace import second_factor as sf
from core.workspace.people import zone_of
from storage.models import SurfaceKind
from storage.models_twofa import SecondFactor
from storage.vault import VaultError

USAGE = "2fa [enrol|off|status]"
ACTIONS = {
    "enrol": "enrol",
    "enroll": "enrol",
    "off": "off",
    "status": "status",
    "confirm": "confirm",
}


@dataclass(frozen=True)
class TwoFactor:
    action: str = "status"


@dataclass(frozen=True)
class Code:
    code: str


def parse(words: Words) -> TwoFactor:
    word = (words.first() or "status").lower()
    if word not in ACTIONS or len(words.args) > 1:
        raise words.fail(f'I don\'t know "{words.rest}" for 2fa.')
    return TwoFactor(ACTIONS[word])


def parse_code(words: Words) -> Code:
    code = words.first() or ""
    if not CODE_ANSWER.fullmatch(code):
        raise words.fail("Give the 6 digits your authenticator app shows.")
    return Code(code)


def needs(cmd: TwoFactor) -> bool | sf.Need:
    """`2fa off` always takes a code; the first code after `2fa enrol` finishes it."""
    return {"off": sf.Need.ALWAYS, "confirm": sf.Need.ENROL}.get(cmd.action, False)


def handle(r: Request, cmd: TwoFactor) -> Message:
    if cmd.action == "enrol":
        return enrol(r)
    if cmd.action == "confirm":
        return confirm(r)
    if cmd.action == "off":
        return switch_off(r)
    return status(r)


def status(r: Request) -> Message:
    factor = sf.factor_of(r.tx, r.actor)
    policy = "asks" if sf.policy_on(r.ws) else "does not ask"
    rule = f"This workspace {policy} for a code before sensitive actions (policy 2fa on|off)."
    if factor is None or factor.confirmed_at is None:
        return Message(text=f"You have no second factor. Set one up: 2fa enrol\n{rule}")
    since = format_when(factor.confirmed_at, zone_of(r.me, r.ws), now=r.tx.now)
    return Message(text=f"🔐 Your second factor is on since {since}.\n{rule}")


def enrol(r: Request) -> Message:
    ctx, tx, ws, me, actor = r.ctx, r.tx, r.ws, r.me, r.actor
    if actor.surface == SurfaceKind.TELEGRAM and actor.shared:
        raise BadInput(
            "I send a second factor only in a private chat, never in a group. Open a private "
            "chat with me, press Start, and send /2fa enrol there."
        )
    factor = sf.factor_of(tx, actor, lock=True)
    if factor is not None and factor.confirmed_at is not None:
        try:
            sf.secret_of(ctx, factor)
        except VaultError:
            pass  # unreadable (the key changed): a new one replaces it
        else:
            raise BadInput(
                "Your second factor is already on. To replace it, switch it off first "
                "(2fa off, with a code), then 2fa enrol."
            )
    sf.need_vault(ctx)
    secret = pyotp.random_base32()
    if factor is None:
        factor = SecondFactor(surface=actor.surface.value, user_id=actor.user_id, secret=b"")
        tx.session.add(factor)
    factor.confirmed_at, factor.last_step, factor.failures, factor.failed_since = None, 0, 0, None
    factor.created_at = tx.now
    sf.seal_secret(ctx, factor, secret)
    until = sf.keep_ask(ctx, tx, actor, "2fa confirm", sf.ENROL_TTL)
    audit(tx, ws.id, "member.2fa.enrol", actor_id=me.id, detail={"member_id": actor.user_id})
    link = pyotp.TOTP(secret, interval=sf.STEP).provisioning_uri(
        name=actor.user_name or actor.user_id, issuer_name="Herald"
    )
    when = format_when(until, zone_of(me, ws), now=tx.now)
    text = (
        "🔐 Your second factor for Herald. Add it to an authenticator app (1Password, Google "
        "Authenticator, Aegis…): scan the QR code, or open this link on your phone:\n"
        f"{link}\n"
        f"Then send me the 6-digit code it shows (before {when}) to switch it on. "
        "Keep this message to yourself: whoever has it can make your codes."
    )
    if actor.surface == SurfaceKind.TERMINAL:  # printed, never written to a file
        message = Message(text=f"{text}\n\n{_qr_text(link)}")
    else:
        png = Attachment("herald-2fa.png", "image/png", _qr_png(link), title="Herald 2FA")
        message = Message(text=text, files=(png,), secret=True)
    if not actor.shared:
        return message
    # A Slack channel: the secret goes to the person alone, the channel hears where.
    say(tx, ws, message, conversation=actor.conversation, recipient=actor.user_id)
    return Message(text="🔒 I sent you your second factor in a direct message.")


def confirm(r: Request) -> Message:
    """The guard took the first code against the new secret: the factor is on."""
    factor = sf.factor_of(r.tx, r.actor, lock=True)
    assert factor is not None  # the guard checked it
    factor.confirmed_at = r.tx.now
    audit(r.tx, r.ws.id, "member.2fa.on", actor_id=r.me.id, detail={"member_id": r.actor.user_id})
    return Message(
        text="✅ Your second factor is on. Sensitive commands ask for a code where the "
        "workspace's policy says (add --code 123456, or send the code when I ask)."
    )


def switch_off(r: Request) -> Message:
    """The guard took a current code: the secret is deleted."""
    r.tx.session.execute(
        delete(SecondFactor).where(
            SecondFactor.surface == r.actor.surface.value,
            SecondFactor.user_id == r.actor.user_id,
        )
    )
    audit(r.tx, r.ws.id, "member.2fa.off", actor_id=r.me.id, detail={"member_id": r.actor.user_id})
    warn = (
        " This workspace still asks for a code before sensitive actions: you can't do them "
        "until you 2fa enrol again."
        if sf.policy_on(r.ws)
        else ""
    )
    return Message(text=f"Your second factor is off; its secret is deleted.{warn}")


def _qr_png(link: str) -> bytes:
    import segno  # loads only when someone enrols

    out = io.BytesIO()
    segno.make(link, error="m").save(out, kind="png", scale=6, border=4)
    return out.getvalue()


def _qr_text(link: str) -> str:
    """The QR code in text, two rows of modules a line (half blocks): any terminal shows it."""
    import segno

    matrix = [list(row) for row in segno.make(link, error="m").matrix]
    size, border = len(matrix), 2
    rows = [[0] * (size + 2 * border) for _ in range(border)]
    rows += [[0] * border + [int(bool(v)) for v in row] + [0] * border for row in matrix]
    rows += [[0] * (size + 2 * border) for _ in range(border + 1)]
    chars = {(0, 0): "█", (1, 0): "▄", (0, 1): "▀", (1, 1): " "}  # dark modules drawn light
    return "\n".join(
        "".join(chars[(top, bottom)] for top, bottom in zip(rows[y], rows[y + 1], strict=True))
        for y in range(0, len(rows) - 1, 2)
    )


def code_answer(_: Code) -> Message:
    # Reached only when nothing waits: Herald.handle answers a waiting command first.
    return Message(
        text="Nothing is waiting for a code. Send the command with it, e.g. "
        "connect x --code 123456.",
        error=True,
    )


COMMANDS: tuple[Spec[Any], ...] = (
    Spec(
        name="2fa",
        kind=TwoFactor,
        usage=USAGE,
        summary="your second factor (TOTP codes)",
        detail="2fa enrol sends you privately a link and QR code for an authenticator app; "
        "the first code you send back switches it on. 2fa off needs a code. Where the "
        "workspace's policy asks (policy 2fa on), sensitive commands need a code: add "
        "--code 123456, or send the code when I ask.",
        parse=parse,
        handle=handle,
        sensitive=needs,
        aliases=("twofa",),
    ),
    Spec(
        name="code",
        kind=Code,
        usage="code <6 digits>",
        summary="the code a command waits for",
        detail="When a command needs your second factor, send the code your app shows: "
        "the digits alone, or code 123456 (in a Telegram group: /code 123456).",
        parse=parse_code,
        answer=code_answer,
        permission=None,
    ),
)
