"""Files Herald shares in Slack (a chart, an export), through Slack's external upload flow.

`files_upload_v2` does the three steps: `files.getUploadURLExternal` per file, the bytes
POSTed to the upload URL it returns (no token travels with them), then one
`files.completeUploadExternal` that shares every file at once in the channel (in a card's
thread with `thread_ts`), introduced by the message's text (`initial_comment`). Nothing is
shown before that last call, so a 429 at any step shares nothing and the job's retry does
the steps again. A workspace whose token lacks `files:write`, or a channel Herald is not in,
gets the reason in words instead of the files.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from urllib.error import HTTPError, URLError

from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError, SlackRequestError

from bot.kit import FileLike
from bot.slack.blocks import MAX_MESSAGE_TEXT, escaped_cut
from bot.slack.client import call
from core.errors import RetryLater

log = logging.getLogger(__name__)

NETWORK_PAUSE = 5.0  # the upload host did not answer: try the whole share again this much later
# Why Slack would not take files here, in words, and what to do.
REFUSALS = {
    "missing_scope": (
        "I couldn't share {names} here: Herald's Slack app lacks the files:write scope. "
        "Ask an admin to reinstall Herald (it asks for that scope now), then ask again."
    ),
    "not_in_channel": (
        "I couldn't share {names} here: I'm not a member of this channel. "
        "Invite me with /invite @Herald, then ask again."
    ),
}


class ShareRefused(Exception):
    """Slack will not take these files here; the message says why, for the people there."""


def share(
    client: WebClient,
    channel: str,
    files: Sequence[FileLike],
    *,
    thread_ts: str | None = None,
    comment: str | None = None,
) -> None:
    """Share `files` in `channel` as one message, `comment` its text (shown as typed)."""
    uploads = [
        {
            "file": f.data,
            "filename": f.name,
            "title": f.title or f.name,
            # Screen readers read an image's alt text: the chart's title says what it shows.
            **({"alt_txt": f.title[:1000]} if f.title and f.mime.startswith("image/") else {}),
        }
        for f in files
    ]
    try:
        call(
            client.files_upload_v2,
            file_uploads=uploads,
            channel=channel,
            thread_ts=thread_ts,
            initial_comment=escaped_cut(comment, MAX_MESSAGE_TEXT) if comment else None,
        )
    except SlackApiError as exc:
        error = str(exc.response.get("error") or "")
        if error in REFUSALS:
            names = ", ".join(f.name for f in files)
            raise ShareRefused(REFUSALS[error].format(names=names)) from None
        raise
    except HTTPError as exc:  # the upload URL's host answered with an error status
        if exc.code == 429 or exc.code >= 500:
            wait = _seconds(exc.headers.get("Retry-After")) if exc.code == 429 else NETWORK_PAUSE
            raise RetryLater(wait, f"Slack's upload host answered {exc.code}") from None
        raise
    except (URLError, TimeoutError, SlackRequestError) as exc:
        log.warning("slack: uploading %d file(s) to %s failed: %s", len(files), channel, exc)
        raise RetryLater(NETWORK_PAUSE, "Slack's upload host did not take the file") from None


def _seconds(value: str | None) -> float:
    try:
        return max(float(value), 1.0) if value else 1.0
    except ValueError:
        return 1.0
