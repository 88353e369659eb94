"""Photos, videos and image files sent to the bot: which post they are for, and their bytes.

A file reaches a post by replying to its card (or to one of the bot's prompts for that card), or
with the caption `/attach 12 [alt text]`. The Bot API lets bots download files of up to 20 MB
(`getFile`), so bigger ones are refused from the size in the update, before anything is fetched.
"""

from __future__ import annotations

import asyncio
import re
from dataclasses import dataclass

from telegram import Bot, Message
from telegram.error import BadRequest, TelegramError

MB = 1024 * 1024
MAX_DOWNLOAD = 20 * MB  # the Bot API's getFile limit
DOWNLOAD_SECONDS = 60.0
# "/attach 12 alt", "/attach@herald_bot #12 alt", "attach 12 alt" (the slash only in private).
_WITH_NUMBER = re.compile(
    r"^(?P<slash>/)?attach(?:@(?P<bot>\w+))?\s+#?(?P<number>\d{1,9})\b\s*(?P<alt>.*)$",
    re.IGNORECASE | re.DOTALL,
)
_BARE = re.compile(r"^/attach(?:@(?P<bot>\w+))?(?:\s+(?P<alt>.*))?$", re.IGNORECASE | re.DOTALL)


@dataclass(frozen=True)
class Upload:
    """The one file of a message worth attaching (a photo's largest size)."""

    file_id: str
    unique_id: str
    size: int | None  # as Telegram announced it; None when it did not say
    kind: str  # "photo", "video", "file": for messages


@dataclass(frozen=True)
class Caption:
    number: int | None  # from `/attach 12`; None: the post comes from what it replies to
    alt: str
    for_us: bool = True  # False: `/attach@another_bot …`


class TooBig(Exception):
    def __init__(self, size: int | None) -> None:
        super().__init__("file too big")
        self.size = size


class DownloadFailed(Exception):
    """Telegram did not hand the file over (in time); the message says what to do."""


def upload_of(message: Message) -> Upload | None:
    """The photo (its largest size), video or image/video document of `message`, if any."""
    if message.photo:
        photo = max(message.photo, key=lambda p: (p.width * p.height, p.file_size or 0))
        return Upload(photo.file_id, photo.file_unique_id, photo.file_size, "photo")
    for medium, kind in ((message.video, "video"), (message.animation, "video")):
        if medium is not None:
            return Upload(medium.file_id, medium.file_unique_id, medium.file_size, kind)
    document = message.document
    if document is not None and (document.mime_type or "").split("/")[0] in {"image", "video"}:
        return Upload(document.file_id, document.file_unique_id, document.file_size, "file")
    return None


def read_caption(caption: str | None, bot_username: str, *, private: bool) -> Caption:
    """The post number and alt text a caption gives; without a command all of it is alt text."""
    text = (caption or "").strip()
    match = _WITH_NUMBER.match(text)
    if match and (match["slash"] or private):
        addressed = match["bot"]
        return Caption(
            int(match["number"]),
            match["alt"].strip(),
            for_us=not addressed or addressed.lower() == bot_username.lower(),
        )
    bare = _BARE.match(text)
    if bare:
        addressed = bare["bot"]
        return Caption(
            None,
            (bare["alt"] or "").strip(),
            for_us=not addressed or addressed.lower() == bot_username.lower(),
        )
    return Caption(None, text)


def human(size: int) -> str:
    return f"{size / MB:.1f} MB" if size >= MB else f"{max(1, size // 1024):,} KB"


def too_big_text(size: int | None, number: int) -> str:
    what = f"That file is {human(size)}" if size else "That file is too big"
    return (
        f"{what}: Telegram lets bots download files of up to {MAX_DOWNLOAD // MB} MB, so I "
        f"can't attach it to #{number}. Send a smaller one, or put it online and use "
        f"/attach {number} <link>."
    )


async def download(bot: Bot, upload: Upload, timeout: float = DOWNLOAD_SECONDS) -> bytes:
    """The file's bytes through the Bot API (`getFile`, then its file path), within `timeout`."""
    if upload.size is not None and upload.size > MAX_DOWNLOAD:
        raise TooBig(upload.size)
    try:
        async with asyncio.timeout(timeout):
            file = await bot.get_file(upload.file_id, read_timeout=timeout)
            if file.file_size is not None and file.file_size > MAX_DOWNLOAD:
                raise TooBig(file.file_size)
            data = await file.download_as_bytearray(read_timeout=timeout)
    except TimeoutError:
        raise DownloadFailed(
            f"Telegram did not hand the {upload.kind} over within {timeout:.0f} seconds; "
            "send it again in a moment."
        ) from None
    except BadRequest as exc:
        if "too big" in str(exc).lower():
            raise TooBig(upload.size) from None
        raise DownloadFailed(
            f"Telegram would not let me download that {upload.kind} ({exc.message}); send it again."
        ) from None
    except TelegramError as exc:
        raise DownloadFailed(
            f"I couldn't download that {upload.kind} from Telegram ({exc.message}); "
            "send it again in a moment."
        ) from None
    if len(data) > MAX_DOWNLOAD:  # a server that said less than it sent
        raise TooBig(len(data))
    return bytes(data)


def file_url(api_url: str) -> str:
    """The Bot API's file base (`…/file/bot`) beside its method base (`…/bot`)."""
    base = api_url.rstrip("/")
    if base.endswith("/bot"):
        return base[: -len("/bot")] + "/file/bot"
    return base + "/file/bot"
