"""Callback tokens: short opaque strings for inline buttons and reply prompts.

A button carries `(action, post number, network, card message id)` sealed with AES-GCM and bound
to its chat, so `callback_data` stays far under Telegram's 64 bytes, reveals nothing, and a token
copied into another chat or altered by a client is refused. Nothing is stored: tokens survive
restarts and need no table. Permissions are never read from a token; core checks the clicking
user's verified id.
"""

from __future__ import annotations

import base64
import os
import struct
from dataclasses import dataclass

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

from core.networks import NETWORK_NAMES

# Append only: a sealed button carries the index.
ACTIONS = (
    "approve",
    "edit",
    "regenerate",
    "reject",
    "cancel",
    "retry",
    "pick",
    "back",
    "posted",
    "slot",
    "skip",
    "reschedule",
    "release",
)
MAX_CALLBACK_BYTES = 64  # telegram.constants.InlineKeyboardButtonLimit.MAX_CALLBACK_DATA
_PLAIN = struct.Struct(">BIBI")  # action, post number, network index (0 = none), card message
_NONCE = 12


@dataclass(frozen=True)
class Intent:
    action: str
    number: int
    network: str | None = None
    card: int | None = None  # the card's message id, for prompts answered later


def _derive(secret: bytes) -> AESGCM:
    key = HKDF(
        algorithm=hashes.SHA256(), length=32, salt=None, info=b"herald telegram callbacks"
    ).derive(secret)
    return AESGCM(key)


class TokenCodec:
    """Seal with the first secret; open with any (so a rotated key keeps old buttons working)."""

    def __init__(self, secrets: list[bytes]) -> None:
        if not secrets:
            raise ValueError("a token codec needs at least one secret")
        self._ciphers = [_derive(s) for s in secrets]

    def seal(self, chat_id: int, intent: Intent) -> str:
        network = NETWORK_NAMES.index(intent.network) + 1 if intent.network else 0
        plain = _PLAIN.pack(ACTIONS.index(intent.action), intent.number, network, intent.card or 0)
        nonce = os.urandom(_NONCE)
        sealed = nonce + self._ciphers[0].encrypt(nonce, plain, str(chat_id).encode())
        token = base64.urlsafe_b64encode(sealed).rstrip(b"=").decode()
        assert len(token.encode()) <= MAX_CALLBACK_BYTES
        return token

    def open(self, chat_id: int, token: str | None) -> Intent | None:
        """The intent, or None for anything not sealed by us for this chat."""
        if not token or len(token) > MAX_CALLBACK_BYTES:
            return None
        try:
            raw = base64.urlsafe_b64decode(token + "=" * (-len(token) % 4))
        except ValueError:
            return None
        nonce, body = raw[:_NONCE], raw[_NONCE:]
        for cipher in self._ciphers:
            try:
                plain = cipher.decrypt(nonce, body, str(chat_id).encode())
            except (InvalidTag, ValueError):
                continue
            if len(plain) != _PLAIN.size:
                return None
            action, number, network, card = _PLAIN.unpack(plain)
            if action >= len(ACTIONS) or network > len(NETWORK_NAMES):
                return None
            return Intent(
                action=ACTIONS[action],
                number=number,
                network=NETWORK_NAMES[network - 1] if network else None,
                card=card or None,
            )
        return None
