"""`herald chat`: the terminal adapter. Interactive with line editing, or a script on stdin."""

from __future__ import annotations

import getpass
import sys
import threading
import time
from collections.abc import Iterable
from pathlib import Path

from rich.console import Console
from rich.text import Text

from bot.terminal import files
from bot.terminal.render import choices_of, render, render_file
from core.messaging import feed
from core.posts.card import Attachment, Message
from core.sanitize import clean_input
from core.service import Herald
from core.workspace.people import Actor
from storage.models import SurfaceKind

POLL_SECONDS = 0.1


def local_actor(user: str | None, timezone: str | None = None) -> Actor:
    name = user or getpass.getuser() or "you"
    return Actor(
        surface=SurfaceKind.TERMINAL,
        workspace_id="local",
        workspace_name="Terminal",
        user_id=name,
        user_name=name,
        conversation="terminal",
        timezone=timezone,
    )


class TerminalChat:
    def __init__(
        self, herald: Herald, actor: Actor, console: Console, *, wait_timeout: float
    ) -> None:
        self.herald = herald
        self.actor = actor
        self.console = console
        self.wait_timeout = wait_timeout
        self.workspace_id = herald.workspace_of(actor)
        self.cursor = feed.last_outbound_id(herald.ctx, self.workspace_id)
        self.touched: list[int] = []
        self.choices: list[str] = []
        self.refused = 0
        self.in_time = True  # every wait of a script ended before its timeout
        self._lock = threading.Lock()

    # --- shared ----------------------------------------------------------------------------

    def show(self, message: Message) -> None:
        with self._lock:
            render(self.console, message)
            for attachment in message.files:
                self.save(attachment)
            if message.card is not None:
                self.choices = [command for _, command in choices_of(message.card)]
            if message.post_number is not None and message.post_number not in self.touched:
                self.touched.append(message.post_number)

    def save(self, attachment: Attachment) -> None:
        data_dir = self.herald.ctx.settings.data_dir
        try:
            path = files.save(data_dir, attachment)
        except OSError as exc:
            self.console.print(
                Text(
                    f"I couldn't save {attachment.name} in {data_dir / files.FOLDER} "
                    f"({exc.strerror or type(exc).__name__}). Check that the folder is "
                    "writable, or set HERALD_DATA_DIR to one that is.",
                    style="red",
                )
            )
            return
        render_file(self.console, attachment, path)

    def drain(self) -> None:
        """Print what the workers said since last time."""
        for message_id, message in feed.outbound_after(
            self.herald.ctx, self.workspace_id, self.cursor
        ):
            self.cursor = message_id
            if message.error:
                self.refused += 1
            self.show(message)

    def wait(self, *, drafts_only: bool = False) -> bool:
        """Block until the work of the touched posts is done. False on timeout."""
        deadline = time.monotonic() + self.wait_timeout
        while True:
            self.drain()
            busy = feed.in_flight(
                self.herald.ctx, self.workspace_id, self.touched, drafts_only=drafts_only
            )
            if not busy:
                self.drain()
                return True
            if time.monotonic() > deadline:
                self.console.print(
                    Text(
                        f"Still waiting after {self.wait_timeout:.0f} s: {'; '.join(busy)}. "
                        "Is a worker running? Start one with: herald worker",
                        style="red",
                    )
                )
                return False
            time.sleep(POLL_SECONDS)

    def run_line(self, line: str) -> bool:
        """Run one input line. False when the chat should end."""
        line = line.strip()
        if not line or line.startswith("#"):
            return True
        if line.lower() in {"exit", "quit", "bye"}:
            return False
        if line.lower() == "wait":
            if not self.wait():
                self.refused += 1
            return True
        if line.isdigit() and self.choices:
            index = int(line) - 1
            if not 0 <= index < len(self.choices):
                self.console.print(
                    Text(f"Pick a number from 1 to {len(self.choices)}.", style="red")
                )
                return True
            line = self.choices[index]
            if line.startswith("edit "):
                self.console.print(Text(f"Type: {line} <network> <new text>"))
                return True
        message = self.herald.handle(self.actor, line)
        if message.error:
            self.refused += 1
        self.show(message)
        return True

    # --- modes -----------------------------------------------------------------------------

    def run_script(self, lines: Iterable[str]) -> int:
        """One command a line; wait for drafts between lines and for all work at the end."""
        for raw in lines:
            if not self.script_line(raw):
                break
        return self.finish()

    def script_line(self, raw: str) -> bool:
        """One line of a script, echoed. False when the chat should end."""
        line = raw.strip()
        if not line or line.startswith("#"):
            return True
        # A script reads like a person who waits for the card before answering it.
        self.in_time = self.wait(drafts_only=True) and self.in_time
        self.console.print(Text(f"> {clean_input(line)}", style="bold"))
        return self.run_line(line)

    def finish(self) -> int:
        """Wait for all work; the exit code: 1 if a command was refused or work timed out."""
        self.in_time = self.wait() and self.in_time
        return 0 if self.in_time and self.refused == 0 else 1

    def run_interactive(self, history: Path) -> int:
        from prompt_toolkit import PromptSession
        from prompt_toolkit.history import FileHistory
        from prompt_toolkit.patch_stdout import patch_stdout

        history.parent.mkdir(parents=True, exist_ok=True)
        session: PromptSession[str] = PromptSession(history=FileHistory(str(history)))
        self.console.print(Text("Herald — type help for commands, Ctrl-D to leave.", style="bold"))
        stop = threading.Event()

        def poll() -> None:
            while not stop.wait(0.3):
                try:
                    self.drain()
                except Exception:  # keep the prompt alive; the error is in the log
                    import logging

                    logging.getLogger(__name__).exception("polling chat messages failed")

        with patch_stdout(raw=True):
            poller = threading.Thread(target=poll, name="herald-chat-poll", daemon=True)
            poller.start()
            try:
                while True:
                    try:
                        line = session.prompt("herald> ")
                    except KeyboardInterrupt:
                        continue
                    except EOFError:
                        break
                    if not self.run_line(line):
                        break
            finally:
                stop.set()
                poller.join(timeout=2)
        return 0


def run_chat(herald: Herald, actor: Actor, *, wait_timeout: float, history: Path) -> int:
    interactive = sys.stdin.isatty() and sys.stdout.isatty()
    console = Console(
        highlight=False, soft_wrap=True, emoji=False, force_terminal=interactive or None
    )
    chat = TerminalChat(herald, actor, console, wait_timeout=wait_timeout)
    if interactive:
        return chat.run_interactive(history)
    return chat.run_script(sys.stdin)
