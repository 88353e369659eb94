"""Files Herald sends to the terminal chat: written under the data folder, their paths printed.

Each file gets a name of its own in `<data>/files/` (the folder 0700, the file 0600): a second
chart of the same name becomes `name-2.png`, and nothing already there is ever overwritten.
"""

from __future__ import annotations

import os
import re
from pathlib import Path

from core.posts.card import Attachment

FOLDER = "files"
_UNSAFE = re.compile(r"[^A-Za-z0-9._-]+")
MAX_NAME = 100


def safe_name(name: str) -> str:
    """The file's own name, reduced to characters every file system takes, never a path."""
    base = name.replace("\\", "/").rsplit("/", 1)[-1]
    cleaned = _UNSAFE.sub("-", base).strip("-.") or "file"
    stem, dot, suffix = cleaned.rpartition(".")
    if not dot:
        stem, suffix = cleaned, ""
    suffix = suffix[:10]
    stem = stem[: MAX_NAME - len(suffix) - 1] or "file"
    return f"{stem}.{suffix}" if suffix else stem


def folder_of(data_dir: Path) -> Path:
    folder = data_dir / FOLDER
    folder.mkdir(mode=0o700, parents=True, exist_ok=True)
    os.chmod(folder, 0o700)  # made before with a wider mode (an old umask): only its owner
    return folder


def save(data_dir: Path, attachment: Attachment) -> Path:
    """Write one file under `<data>/files/` with a name no other file has; its path."""
    folder = folder_of(data_dir)
    name = safe_name(attachment.name)
    stem, dot, suffix = name.rpartition(".")
    if not dot:
        stem, suffix = name, ""
    for n in range(1, 10_000):
        candidate = name if n == 1 else f"{stem}-{n}{dot}{suffix}"
        path = folder / candidate
        try:
            # O_EXCL: if another chat wrote this name a moment ago, take the next one.
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, 0o600)
        except FileExistsError:
            continue
        with os.fdopen(fd, "wb") as out:
            out.write(attachment.data)
        return path
    raise FileExistsError(f"no free name for {name} in {folder}")
