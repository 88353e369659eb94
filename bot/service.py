"""`herald service install`: a systemd user unit (Linux) or a launchd agent (macOS) that keeps
`herald up` running across logout and reboot. Settings stay in the `.env` of the folder it was
installed from (its working directory): no secret is written into the unit."""

from __future__ import annotations

import os
import shutil
import sys
from pathlib import Path
from xml.sax.saxutils import escape

import click

LABEL = "org.herald.up"


def _herald() -> str:
    found = shutil.which("herald")
    return str(Path(found).resolve()) if found else str(Path(sys.executable).with_name("herald"))


def _data_dir() -> str:
    from core.settings import Settings

    return str(Settings().data_dir.expanduser().resolve())


def systemd_unit(herald: str, workdir: str, data_dir: str) -> str:
    return f"""[Unit]
Description=Herald: chat-first social media automation (herald up)
Wants=network-online.target
After=network-online.target

[Service]
Type=simple
ExecStart={herald} up
WorkingDirectory={workdir}
Environment=HERALD_DATA_DIR={data_dir}
Restart=on-failure
RestartSec=5
# SIGTERM is a clean stop: running publishes finish first.
KillSignal=SIGTERM
TimeoutStopSec=60

[Install]
WantedBy=default.target
"""


def launchd_plist(herald: str, workdir: str, data_dir: str) -> str:
    h, w, d = escape(herald), escape(workdir), escape(data_dir)
    return f"""<?xml version="1.0" encoding="UTF-8"?>
<!DOCTYPE plist PUBLIC "-//Apple//DTD PLIST 1.0//EN" "http://www.apple.com/DTDs/PropertyList-1.0.dtd">
<plist version="1.0">
<dict>
  <key>Label</key><string>{LABEL}</string>
  <key>ProgramArguments</key><array><string>{h}</string><string>up</string></array>
  <key>WorkingDirectory</key><string>{w}</string>
  <key>EnvironmentVariables</key><dict><key>HERALD_DATA_DIR</key><string>{d}</string></dict>
  <key>RunAtLoad</key><true/>
  <key>KeepAlive</key><dict><key>SuccessfulExit</key><false/></dict>
  <key>StandardOutPath</key><string>{d}/herald-up.log</string>
  <key>StandardErrorPath</key><string>{d}/herald-up.log</string>
</dict>
</plist>
"""


def install(*, force: bool, show: bool, platform: str | None = None) -> str:
    """Write the unit or plist; returns what to run next (or the file itself with `show`)."""
    platform = platform or sys.platform
    herald, workdir, data_dir = _herald(), os.getcwd(), _data_dir()
    home = Path.home()
    if platform == "darwin":
        path = home / "Library" / "LaunchAgents" / f"{LABEL}.plist"
        text = launchd_plist(herald, workdir, data_dir)
        steps = f"launchctl bootstrap gui/$(id -u) {path}"
    else:
        config = Path(os.environ.get("XDG_CONFIG_HOME") or home / ".config")
        path = config / "systemd" / "user" / "herald.service"
        text = systemd_unit(herald, workdir, data_dir)
        steps = (
            "systemctl --user daemon-reload && systemctl --user enable --now herald\n"
            "loginctl enable-linger $USER   # keep it running after you log out, and at boot"
        )
    if show:
        return text.rstrip("\n")
    if path.exists() and not force:
        raise click.ClickException(
            f"{path} is already there. Add --force to replace it, or --print to see the new one."
        )
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    return (
        f"Wrote {path}: `herald up` from {workdir} (its .env holds the settings).\n"
        f"Start it now and at every login:\n{steps}"
    )
