"""`herald db backup` / `herald db restore` (issue 17, item 5): the embedded install's database,
media, outbox and key in one archive made while Herald writes, restored on another machine
whole, and an archive that is damaged, hostile or from a newer Herald refused with nothing
changed."""

from __future__ import annotations

import io
import json
import os
import sqlite3
import subprocess
import sys
import tarfile
import threading
from datetime import UTC, datetime
from pathlib import Path

import pytest

from storage.backup import BackupError, make, restore

HERALD = str(Path(sys.executable).with_name("herald"))


def _env(data_dir: Path, **more: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("HERALD_")}
    env["HERALD_DATA_DIR"] = str(data_dir)
    env.update(more)
    return env


def _herald(
    data_dir: Path, *args: str, stdin: str = "", **env: str
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [HERALD, *args],
        input=stdin,
        env=_env(data_dir, **env),
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


@pytest.fixture(scope="module")
def install(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """An embedded install with two published posts, an outbox and a media file."""
    data = tmp_path_factory.mktemp("install") / "data"
    said = _herald(
        data,
        "chat",
        "--user",
        "maria",
        stdin=(
            "draft Backups keep everything --to outbox\napprove 1\n"
            "draft A second one --to outbox\napprove 2\n"
        ),
    )
    assert said.returncode == 0, said.stderr
    (data / "media").mkdir(exist_ok=True)
    (data / "media" / "ws1").mkdir(exist_ok=True)
    (data / "media" / "ws1" / "photo.png").write_bytes(b"\x89PNG\r\n\x1a\n" + os.urandom(256))
    return data


def test_a_backup_made_while_herald_writes_restores_whole(install: Path, tmp_path: Path) -> None:
    archive = tmp_path / "b.tar.gz"
    writing, stop = threading.Event(), threading.Event()

    def write() -> None:  # another process's writes, as a worker's would be
        conn = sqlite3.connect(install / "herald.sqlite3", timeout=30)
        while not stop.is_set():
            conn.execute("UPDATE posts SET brief = brief WHERE id = 1")
            conn.commit()
            writing.set()
        conn.close()

    writer = threading.Thread(target=write)
    writer.start()
    try:
        assert writing.wait(30)
        made = _herald(install, "db", "backup", str(archive))
    finally:
        stop.set()
        writer.join()
    assert made.returncode == 0, made.stderr
    assert "Backed up 2 post(s)" in made.stdout and "keep it private" in made.stdout
    assert oct(archive.stat().st_mode & 0o777) == "0o600"

    elsewhere = tmp_path / "new-laptop"
    restored = _herald(elsewhere, "db", "restore", str(archive))
    assert restored.returncode == 0, restored.stderr
    assert "Restored 2 post(s)" in restored.stdout
    with sqlite3.connect(elsewhere / "herald.sqlite3") as conn:
        assert conn.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
    for name in ("media/ws1/photo.png", "secret.key"):
        assert (elsewhere / name).read_bytes() == (install / name).read_bytes(), name
    assert sorted(p.name for p in (elsewhere / "outbox").iterdir()) == sorted(
        p.name for p in (install / "outbox").iterdir()
    )
    shown = _herald(elsewhere, "chat", "--user", "maria", stdin="show 1\n")
    assert "Backups keep everything" in shown.stdout and "Published" in shown.stdout


def test_restoring_over_posts_needs_force_and_keeps_the_old_key(
    install: Path, tmp_path: Path
) -> None:
    archive = tmp_path / "b.tar.gz"
    make(install, archive, now=datetime.now(UTC))
    other = tmp_path / "other"
    assert _herald(other, "chat", "--user", "lee", stdin="draft Mine --to outbox\n").returncode == 0
    old_key = (other / "secret.key").read_bytes()
    refused = _herald(other, "db", "restore", str(archive))
    assert refused.returncode != 0 and "--force" in refused.stderr
    assert "Mine" in _herald(other, "chat", "--user", "lee", stdin="show 1\n").stdout
    forced = _herald(other, "db", "restore", "--force", str(archive))
    assert forced.returncode == 0, forced.stderr
    assert (other / "secret.key.before-restore").read_bytes() == old_key
    assert (other / "secret.key").read_bytes() == (install / "secret.key").read_bytes()


def _rewrite(
    archive: Path,
    into: Path,
    change: dict[str, bytes],
    manifest_files: dict[str, str] | None = None,
) -> None:
    with tarfile.open(archive) as tar:
        members = {m.name: tar.extractfile(m).read() for m in tar.getmembers()}  # type: ignore[union-attr]
    manifest = json.loads(members["manifest.json"])
    if manifest_files is not None:
        manifest["files"].update(manifest_files)
    members["manifest.json"] = json.dumps(manifest).encode()
    members.update(change)
    with tarfile.open(into, "w:gz") as tar:
        for name, body in members.items():
            info = tarfile.TarInfo(name)
            info.size = len(body)
            tar.addfile(info, io.BytesIO(body))


def test_a_damaged_hostile_or_newer_archive_changes_nothing(install: Path, tmp_path: Path) -> None:
    good = tmp_path / "good.tar.gz"
    make(install, good, now=datetime.now(UTC))
    target = tmp_path / "target"

    damaged = tmp_path / "damaged.tar.gz"
    _rewrite(good, damaged, {"media/ws1/photo.png": b"not the photo"})
    with pytest.raises(BackupError, match="does not match its checksum"):
        restore(damaged, target, force=False)

    hostile = tmp_path / "hostile.tar.gz"
    _rewrite(good, hostile, {"../../evil.sh": b"rm -rf ~"}, {"../../evil.sh": "0" * 64})
    with pytest.raises(BackupError, match="never has"):
        restore(hostile, target, force=False)
    assert not (tmp_path / "evil.sh").exists() and not (tmp_path.parent / "evil.sh").exists()

    with tarfile.open(good) as tar:
        manifest = json.loads(tar.extractfile("manifest.json").read())  # type: ignore[union-attr]
    newer = tmp_path / "newer.tar.gz"
    manifest["revision"] = "zz9999"
    with tarfile.open(good) as tar:
        bodies = {m.name: tar.extractfile(m).read() for m in tar.getmembers()}  # type: ignore[union-attr]
    bodies["manifest.json"] = json.dumps(manifest).encode()
    with tarfile.open(newer, "w:gz") as tar:
        for name, body in bodies.items():
            info = tarfile.TarInfo(name)
            info.size = len(body)
            tar.addfile(info, io.BytesIO(body))
    with pytest.raises(BackupError, match="newer Herald"):
        restore(newer, target, force=False)

    not_a_backup = tmp_path / "notes.tar.gz"
    with tarfile.open(not_a_backup, "w:gz") as tar:
        info = tarfile.TarInfo("notes.txt")
        tar.addfile(info, io.BytesIO(b""))
    with pytest.raises(BackupError, match="not a Herald backup"):
        restore(not_a_backup, target, force=False)
    assert not target.exists() or not any(target.iterdir())  # nothing was changed


def test_postgresql_is_pointed_at_its_own_tools(tmp_path: Path) -> None:
    said = _herald(
        tmp_path, "db", "backup", HERALD_DATABASE_URL="postgresql+psycopg://h@127.0.0.1:1/h"
    )
    assert said.returncode != 0
    assert "pg_dump" in said.stderr and "point-in-time" in said.stderr
    assert "Traceback" not in said.stderr


def test_nothing_to_back_up_is_said_plainly(tmp_path: Path) -> None:
    said = _herald(tmp_path / "empty", "db", "backup", str(tmp_path / "x.tar.gz"))
    assert said.returncode != 0 and "nothing to back up" in said.stderr
    assert not (tmp_path / "x.tar.gz").exists()
