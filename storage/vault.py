"""The credential vault: authenticated encryption (AES-256-GCM) for secrets stored in rows.

A sealed value is `b"hv1" | key id (8 bytes) | nonce (12) | ciphertext+tag`. The key id says
which key sealed it, so keys can be rotated online: the newest key seals, any listed key opens.
Each value is bound to its place (`context`: table, column and the key of its row, e.g.
`slack_installations.bot_token:["T123"]`) as AES-GCM associated data: a ciphertext copied to
another column, another row or another workspace's row does not open there.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import os
import secrets
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

MAGIC = b"hv1"


class VaultError(Exception):
    """A value could not be opened: wrong key, wrong place, or tampered with."""


def new_key() -> str:
    """A fresh 32-byte key, base64url, for HERALD_SECRET_KEY."""
    return base64.urlsafe_b64encode(secrets.token_bytes(32)).decode()


def decode_key(text: str) -> bytes:
    try:
        raw = base64.urlsafe_b64decode(text.strip() + "=" * (-len(text.strip()) % 4))
    except ValueError as exc:
        raise VaultError("the secret key is not base64") from exc
    if len(raw) != 32:
        raise VaultError("the secret key must be 32 bytes (44 base64 characters)")
    return raw


def key_id(key: bytes) -> bytes:
    return hashlib.sha256(b"herald-key-id" + key).digest()[:8]


class Vault:
    def __init__(self, keys: Sequence[bytes]) -> None:
        if not keys:
            raise VaultError("the vault needs at least one key")
        self.current = keys[0]
        self._raw = list(keys)
        self._keys = {key_id(k): AESGCM(k) for k in keys}
        self._current_id = key_id(self.current)

    def seal(self, plaintext: bytes, context: str) -> bytes:
        nonce = os.urandom(12)
        sealed = self._keys[self._current_id].encrypt(nonce, plaintext, context.encode())
        return MAGIC + self._current_id + nonce + sealed

    def open(self, blob: bytes, context: str) -> bytes:
        if not blob.startswith(MAGIC) or len(blob) < len(MAGIC) + 8 + 12 + 16:
            raise VaultError("not a sealed value")
        kid = blob[len(MAGIC) : len(MAGIC) + 8]
        nonce = blob[len(MAGIC) + 8 : len(MAGIC) + 20]
        aead = self._keys.get(kid)
        if aead is None:
            raise VaultError("sealed with a key this Herald does not have")
        try:
            return aead.decrypt(nonce, blob[len(MAGIC) + 20 :], context.encode())
        except InvalidTag as exc:
            raise VaultError("the value was altered or belongs elsewhere") from exc

    def derived(self, purpose: str) -> list[bytes]:
        """Keys for `purpose` (e.g. signing audit checkpoints), derived from the secret keys,
        current first: never stored, and useless for opening sealed values."""
        label = b"herald-derived:" + purpose.encode()
        return [hmac.new(k, label, hashlib.sha256).digest() for k in self._raw]

    def is_current(self, blob: bytes) -> bool:
        return blob[len(MAGIC) : len(MAGIC) + 8] == self._current_id

    def seal_text(self, text: str, context: str) -> bytes:
        return self.seal(text.encode(), context)

    def open_text(self, blob: bytes, context: str) -> str:
        return self.open(blob, context).decode()


def local_key(path: Path) -> bytes:
    """The embedded mode's key: made once, kept beside the SQLite file, readable only by you."""
    if path.exists():
        return decode_key(path.read_text())
    path.parent.mkdir(parents=True, exist_ok=True)
    text = new_key()
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w") as handle:
        handle.write(text + "\n")
    return decode_key(text)


def sealed_context(table: str, column: str, *row: object) -> str:
    """The context a sealed value is bound to: its table and column and, given `row`, the key
    of its row (the column's `info["bound_to"]` names the fields). JSON keeps the parts apart
    whatever they contain."""
    base = f"{table}.{column}"
    return f"{base}:{json.dumps([str(part) for part in row])}" if row else base


def row_context(table: Any, column: str, row: Any) -> str:
    """The context of `column` in `row` (an ORM object or a mapping of its values): the
    table's name, the column's, and the fields its `info["bound_to"]` names."""
    names = table.c[column].info.get("bound_to", ())
    values = [row[n] if isinstance(row, Mapping) else getattr(row, n) for n in names]
    return sealed_context(table.name, column, *values)


def _kms(client: object) -> Any:
    if client is None:
        import boto3
        from botocore.config import Config

        client = boto3.client("kms", config=Config(retries={"mode": "standard"}))
    return client


def kms_new_wrapped_key(kms_key_id: str, *, client: object = None) -> str:
    """A fresh data key in its KMS-encrypted form only (base64), for HERALD_KMS_DATA_KEY: the
    plain key is never returned, printed or written anywhere."""
    made = _kms(client).generate_data_key_without_plaintext(KeyId=kms_key_id, KeySpec="AES_256")
    return base64.b64encode(bytes(made["CiphertextBlob"])).decode("ascii")


def kms_data_key(
    kms_key_id: str, wrapped_path: Path, *, wrapped: str | None = None, client: object = None
) -> bytes:
    """A 32-byte data key from AWS KMS (envelope encryption).

    With `wrapped` (HERALD_KMS_DATA_KEY: the key's KMS-encrypted form, base64), every process
    of a deployment unwraps the same key, whatever disk it starts on (Fargate tasks have none
    of their own). Without it, the first run asks KMS for a fresh data key and keeps only its
    KMS-encrypted form beside the data (`wrapped_path`); every start asks KMS to decrypt it.
    The plaintext key lives in memory only, so a copy of the disk or the database alone opens
    nothing.
    """
    kms = _kms(client)
    if wrapped is not None:
        try:
            blob = base64.b64decode(wrapped, validate=True)
        except ValueError:
            raise VaultError(
                "HERALD_KMS_DATA_KEY is not base64; make one with `herald keys kms-new`"
            ) from None
        key = bytes(kms.decrypt(CiphertextBlob=blob, KeyId=kms_key_id)["Plaintext"])
    elif wrapped_path.exists():
        plaintext = kms.decrypt(CiphertextBlob=wrapped_path.read_bytes(), KeyId=kms_key_id)
        key = bytes(plaintext["Plaintext"])
    else:
        made = kms.generate_data_key(KeyId=kms_key_id, KeySpec="AES_256")
        wrapped_path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(wrapped_path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "wb") as handle:
            handle.write(bytes(made["CiphertextBlob"]))
        key = bytes(made["Plaintext"])
    if len(key) != 32:
        raise VaultError("the KMS data key is not 32 bytes")
    return key
