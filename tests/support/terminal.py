"""`herald chat` in the test's own process: push a line, read the answers.

The transcript drives the real terminal adapter (`TerminalChat`) the way a piped script does —
each line echoed as `> line` after the drafts before it are done, plain text, the same exit
code at the end — with the runtime's worker in place of `herald chat`'s embedded one. No
subprocess, so a dialogue costs what its commands cost."""

from __future__ import annotations

import io

from rich.console import Console

from bot.runtime import Runtime
from bot.terminal.chat import TerminalChat, local_actor


class Transcript:
    def __init__(self, rt: Runtime, user: str = "maria") -> None:
        self.screen = io.StringIO()
        console = Console(file=self.screen, highlight=False, soft_wrap=True, emoji=False)
        self.chat = TerminalChat(
            rt.herald, local_actor(user), console, wait_timeout=rt.settings.wait_timeout_seconds
        )
        self._read = 0

    def push(self, line: str) -> str:
        """Type `line` as the next line of a script; what the chat printed since the last read."""
        self.chat.script_line(line)
        return self.read()

    def wait(self) -> str:
        """Wait for the work of the posts seen so far (as `wait` does); what that printed."""
        assert self.chat.wait(), self.text
        return self.read()

    def end(self) -> int:
        """The script's end (stdin closed): wait for all work; the exit code `herald chat` gives."""
        return self.chat.finish()

    def read(self) -> str:
        text = self.screen.getvalue()
        new, self._read = text[self._read :], len(text)
        return new

    @property
    def text(self) -> str:
        """Everything printed so far."""
        return self.screen.getvalue()
