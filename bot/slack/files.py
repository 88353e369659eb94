"""Files people share with Herald: downloaded with the bot token, capped in size and time.

A file shared in a card's thread is attached to that card's post (`Herald.attach_upload`
checks the person's role and fits the file to each network). Slack serves a file's bytes at
its `url_private_download` to a request carrying a bot token with `files:read`; the token is
only ever sent to Slack's own hosts (the Web API host, or *.slack.com).
"""

from __future__ import annotations

from typing import Any
from urllib.parse import urlsplit

import httpx

MAX_FILE_BYTES = 20 * 1024 * 1024  # Herald attaches images and short videos, nothing larger
TIMEOUT = 20.0
MAX_FILES = 4  # per message: more is almost surely a mistake, and each is a download


class FileRefused(Exception):
    """A file Herald will not download; the message says why, for the person."""


def _allowed(url: str, api_url: str) -> bool:
    parts, api = urlsplit(url), urlsplit(api_url)
    host = (parts.hostname or "").lower()
    if parts.scheme not in {"https", "http"} or not host:
        return False
    if host == (api.hostname or "").lower() and parts.scheme == api.scheme:
        return True  # a Slack-compatible server serves its own files
    return parts.scheme == "https" and (host == "slack.com" or host.endswith(".slack.com"))


def download(file: dict[str, Any], token: str, api_url: str) -> bytes:
    """The bytes of one shared file, or `FileRefused` with a reason a person understands."""
    name = str(file.get("name") or file.get("title") or "that file")
    url = str(file.get("url_private_download") or file.get("url_private") or "")
    if file.get("mode") in {"external", "snippet", "post"} or not url:
        raise FileRefused(f"I can't read {name}: share the image or video itself.")
    if not _allowed(url, api_url):
        raise FileRefused(f"I can't read {name}: it is not stored in Slack.")
    size = int(file.get("size") or 0)
    if size > MAX_FILE_BYTES:
        raise FileRefused(_too_big(name))
    headers = {"Authorization": f"Bearer {token}"}
    try:
        # Redirects are not followed: the token must not travel to another host.
        with httpx.stream("GET", url, headers=headers, timeout=TIMEOUT) as response:
            if response.status_code != 200:
                raise FileRefused(
                    f"Slack did not give me {name} (HTTP {response.status_code}). "
                    "Check that Herald has the files:read scope, then share it again."
                )
            if "text/html" in response.headers.get("content-type", ""):
                # Slack answers a token without files:read with its sign-in page.
                raise FileRefused(
                    f"Slack did not give me {name}. Reinstall Herald with the files:read scope."
                )
            length = int(response.headers.get("content-length") or 0)
            if length > MAX_FILE_BYTES:
                raise FileRefused(_too_big(name))
            data = bytearray()
            for chunk in response.iter_bytes():
                data.extend(chunk)
                if len(data) > MAX_FILE_BYTES:
                    raise FileRefused(_too_big(name))
            return bytes(data)
    except httpx.HTTPError as exc:
        raise FileRefused(
            f"I could not download {name} from Slack ({type(exc).__name__})."
        ) from exc


def _too_big(name: str) -> str:
    return f"{name} is larger than {MAX_FILE_BYTES // (1024 * 1024)} MB; share a smaller file."
