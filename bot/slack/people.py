"""Who is talking on Slack: the verified person of a payload, their cached profile, and
Slack's escaped text turned back into the plain words the grammar reads."""

from __future__ import annotations

import logging
import re
import threading
import time
from dataclasses import dataclass
from typing import Any

from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError

from bot.slack.client import Tokens, call
from core.errors import RetryLater
from core.grammar import defuse_mentions, mention
from core.workspace.people import Actor
from storage.models import SurfaceKind

log = logging.getLogger(__name__)

PEOPLE_TTL = 6 * 3600.0
PEOPLE_RETRY = 60.0  # after a failed users.info, ask again no sooner than this
_CHANNEL = re.compile(r"<#([CGD][A-Z0-9]+)(?:\|[^>]*)?>")
_USER = re.compile(r"<@([UW][A-Z0-9]+)(?:\|[^>]*)?>")
_SPECIAL = re.compile(r"<!(?:subteam\^)?[^>]*>")


def slack_text(text: str) -> str:
    """Slack's escaped forms back into plain words the grammar reads.

    `<#C123|marketing>` becomes the channel id `C123` (what cards are posted to); `<@U1|ana>`
    becomes the grammar's verified mention `<@U1>` (members are keyed by id); `&amp;` & co.
    become characters. Slack escapes a typed `<` as `&lt;`, so a raw `<@` is always Slack's
    own mention; a typed one is defused, so it can't pass for a verified person.
    """
    parts: list[str] = []
    last = 0
    for match in _USER.finditer(text):
        parts.append(_plain(text[last : match.start()]))
        parts.append(mention(match.group(1)))
        last = match.end()
    parts.append(_plain(text[last:]))
    return "".join(parts).strip()


def _plain(text: str) -> str:
    text = _CHANNEL.sub(lambda m: m.group(1), text)
    text = _SPECIAL.sub("", text)
    text = text.replace("&lt;", "<").replace("&gt;", ">").replace("&amp;", "&")
    return defuse_mentions(text)


@dataclass(frozen=True)
class Where:
    """Who is talking and where, as the payload says (ids Slack verified, names it sent)."""

    team_id: str
    team_name: str
    user_id: str
    user_name: str
    channel: str


def where_of_interaction(body: dict[str, Any], channel: str) -> Where:
    """The `Where` of a button press, shortcut or form submission."""
    user = body.get("user") or {}
    team = body.get("team") or {}
    team_id = team.get("id") or user.get("team_id") or ""
    return Where(
        team_id=team_id,
        team_name=team.get("domain") or team_id,
        user_id=user["id"],
        user_name=user.get("username") or user.get("name") or user["id"],
        channel=channel,
    )


def addressed(text: str, body: dict[str, Any]) -> str:
    """`text` without the mention of Herald that starts it (`@Herald queue` is `queue`)."""
    for authorization in body.get("authorizations") or []:
        ours = mention(str(authorization.get("user_id") or ""))
        if text.startswith(ours):
            return text[len(ours) :].strip()
    return text


@dataclass(frozen=True)
class Person:
    name: str
    timezone: str | None


class People:
    """users.info, cached: the display name and time zone of a Slack user.

    Handlers read `cached` before the ack (never a Slack call there) and `warm` after it, so
    a person's first request carries the name Slack sent in the payload and every later one
    the profile's display name and zone. A failed lookup is remembered briefly with the
    payload's name, so a burst of requests does not become a burst of users.info calls.
    """

    def __init__(self, tokens: Tokens) -> None:
        self.tokens = tokens
        self._lock = threading.Lock()
        self._cache: dict[tuple[str, str], tuple[float, Person]] = {}
        self._asking: set[tuple[str, str]] = set()

    def cached(self, team_id: str, user_id: str) -> Person | None:
        with self._lock:
            found = self._cache.get((team_id, user_id))
        return found[1] if found is not None and found[0] > time.monotonic() else None

    def warm(self, client: WebClient, team_id: str, user_id: str, fallback: str) -> None:
        """Look the person up unless they are cached or already being looked up."""
        key = (team_id, user_id)
        with self._lock:
            found = self._cache.get(key)
            if (found is not None and found[0] > time.monotonic()) or key in self._asking:
                return
            self._asking.add(key)
        try:
            self._ask(client, key, fallback)
        finally:
            with self._lock:
                self._asking.discard(key)

    def get(self, client: WebClient, team_id: str, user_id: str, fallback: str) -> Person:
        """The person, asking Slack when not cached: only where nobody waits for an ack."""
        return self.cached(team_id, user_id) or self._ask(client, (team_id, user_id), fallback)

    def _ask(self, client: WebClient, key: tuple[str, str], fallback: str) -> Person:
        user_id = key[1]
        try:
            user = call(client.users_info, user=user_id).get("user") or {}
        except (SlackApiError, RetryLater) as exc:
            # Without users.info the person still gets an answer: their name from the
            # payload and the workspace's zone. Remembered for a minute only.
            log.warning("users.info failed for %s: %s", user_id, exc)
            person = Person(name=fallback or user_id, timezone=None)
            with self._lock:
                self._cache[key] = (time.monotonic() + PEOPLE_RETRY, person)
            return person
        profile = user.get("profile") or {}
        person = Person(
            name=profile.get("display_name") or user.get("name") or fallback or user_id,
            timezone=user.get("tz"),
        )
        with self._lock:
            self._cache[key] = (time.monotonic() + PEOPLE_TTL, person)
        return person

    def actor(self, where: Where) -> Actor:
        """The verified person, from the people cache only: safe before an ack.

        Someone not cached yet gets the name Slack sent and no zone (the workspace's is used
        until `resolve` learns theirs); `warm` after the ack caches the profile.
        """
        person = self.cached(where.team_id, where.user_id)
        return Actor(
            surface=SurfaceKind.SLACK,
            workspace_id=where.team_id,
            workspace_name=where.team_name or where.team_id,
            user_id=where.user_id,
            user_name=person.name if person else where.user_name,
            conversation=where.channel,
            timezone=person.timezone if person else None,
        )

    def looked_up(self, client: WebClient, where: Where) -> Actor:
        """The person with users.info asked when not cached: only after the ack."""
        self.get(client, where.team_id, where.user_id, where.user_name)
        return self.actor(where)
