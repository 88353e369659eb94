"""Backups of the embedded install: its SQLite database, media, outbox and local key, in one
archive made online (SQLite's backup API copies a consistent snapshot while Herald writes), and
their restore. PostgreSQL is backed up by its own tools (pg_dump, RDS point-in-time recovery).

The archive is a gzip'd tar with `manifest.json` first: Herald's schema revision, when it was
made, and the SHA-256 of every file, all checked before a restore changes anything."""

from __future__ import annotations

import hashlib
import io
import json
import os
import sqlite3
import tarfile
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path, PurePosixPath
from typing import Any

from storage.db import revisions_on_disk

DATABASE = "herald.sqlite3"
FOLDERS = ("media", "outbox")  # what people made and what was published
KEYS = ("secret.key", "kms-data-key.bin")  # without them the sealed tokens cannot be opened
FORMAT = 1


class BackupError(Exception):
    """A backup or restore that cannot go on; the message says why and what to do."""


@dataclass(frozen=True)
class Made:
    path: Path
    files: int
    size: int
    posts: int
    has_key: bool


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for chunk in iter(lambda: handle.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def _files(data_dir: Path) -> Iterator[tuple[str, Path]]:
    for folder in FOLDERS:
        root = data_dir / folder
        if root.is_dir():
            for path in sorted(root.rglob("*")):
                if path.is_file() and not path.is_symlink():
                    yield path.relative_to(data_dir).as_posix(), path
    for name in KEYS:
        if (data_dir / name).is_file():
            yield name, data_dir / name


def _count_posts(db_path: Path) -> int:
    with sqlite3.connect(db_path) as conn:
        try:
            return int(conn.execute("SELECT count(*) FROM posts").fetchone()[0])
        except sqlite3.OperationalError:
            return 0


def _revision(db_path: Path) -> str | None:
    with sqlite3.connect(db_path) as conn:
        try:
            rows = conn.execute("SELECT version_num FROM alembic_version").fetchall()
        except sqlite3.OperationalError:
            return None
    return "+".join(sorted(str(r[0]) for r in rows)) or None


def snapshot(db_path: Path, into: Path) -> None:
    """A consistent copy of a live SQLite database (WAL included), taken in one step."""
    source = sqlite3.connect(f"file:{db_path}?mode=ro", uri=True)
    target = sqlite3.connect(into)
    try:
        source.backup(target)
    finally:
        target.close()
        source.close()


def make(data_dir: Path, archive: Path, *, now: datetime) -> Made:
    """Write `archive` (refusing to overwrite one) from the embedded install in `data_dir`."""
    db_path = data_dir / DATABASE
    if not db_path.is_file():
        raise BackupError(f"There is no Herald database at {db_path}: nothing to back up.")
    if archive.exists():
        raise BackupError(f"{archive} is already there; name another file.")
    archive.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="herald-backup-") as tmp:
        copy = Path(tmp) / DATABASE
        snapshot(db_path, copy)  # first: media a row names was written before the row
        members = [(DATABASE, copy), *_files(data_dir)]
        manifest: dict[str, Any] = {
            "format": FORMAT,
            "made_at": now.astimezone(UTC).isoformat(),
            "revision": _revision(copy),
            "files": {name: _sha256(path) for name, path in members},
        }
        # The archive may hold the local key: only its owner may read it.
        fd = os.open(archive, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "wb") as raw, tarfile.open(fileobj=raw, mode="w:gz") as tar:
            body = json.dumps(manifest, indent=2, sort_keys=True).encode()
            info = tarfile.TarInfo("manifest.json")
            info.size, info.mtime, info.mode = len(body), int(now.timestamp()), 0o600
            tar.addfile(info, io.BytesIO(body))
            for name, path in members:
                tar.add(path, arcname=name, recursive=False)
        return Made(
            path=archive,
            files=len(members),
            size=archive.stat().st_size,
            posts=_count_posts(copy),
            has_key=any(name in KEYS for name, _ in members),
        )


def _safe(name: str) -> bool:
    path = PurePosixPath(name)
    return (
        not path.is_absolute()
        and ".." not in path.parts
        and (name == DATABASE or name in KEYS or path.parts[0] in FOLDERS)
    )


def restore(archive: Path, data_dir: Path, *, force: bool) -> int:
    """Check everything in `archive`, then put it in `data_dir`; returns the posts restored.
    Nothing is changed unless every check passes."""
    if not archive.is_file():
        raise BackupError(f"There is no backup at {archive}.")
    db_path = data_dir / DATABASE
    if db_path.is_file() and _count_posts(db_path) and not force:
        raise BackupError(
            f"{db_path} already holds posts. Stop Herald, then add --force to replace them "
            "with the backup (make a backup of them first: herald db backup)."
        )
    with tempfile.TemporaryDirectory(prefix="herald-restore-", dir=data_dir.parent) as tmp:
        staged = Path(tmp)
        manifest = _unpack(archive, staged)
        revision = manifest.get("revision")
        if revision and not set(str(revision).split("+")) <= revisions_on_disk():
            raise BackupError(
                f"This backup is from a newer Herald (schema {revision}): upgrade Herald, "
                "then restore. Nothing was changed."
            )
        data_dir.mkdir(parents=True, exist_ok=True)
        # The database through SQLite's own backup API: the live file, its WAL and any
        # connection still open see one whole database, never a half-written file.
        snapshot(staged / DATABASE, data_dir / DATABASE)
        for name in manifest["files"]:
            if name == DATABASE:
                continue
            target, restored = data_dir / name, staged / name
            replaced = target.is_file() and target.read_bytes() != restored.read_bytes()
            if name in KEYS and replaced:  # kept: it may still open secrets sealed since
                os.replace(target, target.with_name(f"{target.name}.before-restore"))
            target.parent.mkdir(parents=True, exist_ok=True)
            os.replace(restored, target)
            if name in KEYS:
                target.chmod(0o600)
        return _count_posts(data_dir / DATABASE)


def _unpack(archive: Path, into: Path) -> dict[str, Any]:
    try:
        with tarfile.open(archive, mode="r:gz") as tar:
            names = tar.getnames()
            if not names or names[0] != "manifest.json":
                raise BackupError(f"{archive} is not a Herald backup (no manifest first).")
            handle = tar.extractfile("manifest.json")
            if handle is None:
                raise BackupError(f"{archive} is not a Herald backup (no manifest).")
            manifest: dict[str, Any] = json.loads(handle.read())
            files: dict[str, str] = manifest.get("files", {})
            if manifest.get("format") != FORMAT or DATABASE not in files:
                raise BackupError(f"{archive} is not a Herald backup this version can read.")
            extra = set(names) - {"manifest.json"} - set(files)
            unsafe = [n for n in files if not _safe(n)]
            if extra or unsafe:
                raise BackupError(
                    f"{archive} holds files a Herald backup never has "
                    f"({', '.join(sorted(extra | set(unsafe))[:3])}): refused, nothing changed."
                )
            for member in tar.getmembers():
                if member.name != "manifest.json" and not member.isfile():
                    raise BackupError(f"{archive} holds a link or device: refused.")
            wanted = [m for m in tar.getmembers() if m.name in files]
            tar.extractall(into, members=wanted, filter="data")
    except (tarfile.TarError, OSError, ValueError) as exc:
        raise BackupError(f"{archive} cannot be read as a Herald backup ({exc}).") from None
    for name, digest in files.items():
        if _sha256(into / name) != digest:
            raise BackupError(
                f"{name} in {archive} does not match its checksum: the backup is damaged. "
                "Nothing was changed."
            )
    return manifest
