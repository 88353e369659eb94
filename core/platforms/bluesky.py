"""Bluesky (AT Protocol): sessions from an app password, posts with facets, image blobs.

Links, mentions and hashtags are only rich on Bluesky when the client sends facets with UTF-8
byte offsets; Herald computes them from the text, finding links as Bluesky's own client does
(`detectFacets` in @atproto/api): any http(s):// address, or a bare domain ending in a known
top-level domain, less one trailing punctuation mark and an unmatched closing parenthesis.

The record key is derived from the target's idempotency key, so reconciliation asks for exactly
that record (`getRecord`) and a second attempt can never make a second post.

Figures are the counts of the post's view (`app.bsky.feed.getPosts`, 25 posts a request, which
the account's PDS hands to the App View): likes, reposts, replies and quotes. A post the App
View leaves out is deleted, unless the account's own repository still has the record (the App
View has not indexed it yet): then it is simply not read this time.
"""

from __future__ import annotations

import base64
import hashlib
import json
import re
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any

import httpx

from core.errors import ContentRejected, PublishError, RateLimited, TokenExpired, Transient
from core.platforms import http as h
from core.platforms.base import Account, AccountPublisher
from core.ports import FiguresRequest, Published, PublishRequest, Reading
from core.ssrf import SafeFetcher
from core.twitter_tlds import COUNTRY, GENERIC

COLLECTION = "app.bsky.feed.post"
BATCH = 25  # the most uris app.bsky.feed.getPosts takes (its lexicon's maxLength)
COUNTS = ("likeCount", "repostCount", "replyCount", "quoteCount")
_B32 = "234567abcdefghijklmnopqrstuvwxyz"
_MENTION = re.compile(
    r"(?<![\w@])@((?:[a-zA-Z0-9](?:[a-zA-Z0-9-]{0,61}[a-zA-Z0-9])?\.)+[a-zA-Z]{2,})"
)


def record_key(idempotency_key: str) -> str:
    """A valid TID (13 base32-sortable characters) derived from the idempotency key."""
    digest = int.from_bytes(hashlib.sha256(idempotency_key.encode()).digest()[:8], "big")
    # Timestamp bits in 2023-2024 (a valid past TID), clock id from the hash: stable per key.
    micros = 1_672_531_200_000_000 + digest % 31_536_000_000_000
    value = (micros << 10) | (digest >> 54)
    value &= (1 << 63) - 1
    chars = []
    for _ in range(13):
        chars.append(_B32[value & 31])
        value >>= 5
    return "".join(reversed(chars))


_LINK = re.compile(
    r"(?:^|(?<=[\s(]))(?:https?://\S+|(?P<domain>[a-z][a-z0-9]*(?:\.[a-z0-9]+)+)\S*)",
    re.IGNORECASE,
)
_TLDS = COUNTRY | GENERIC


def links(text: str) -> list[tuple[int, int]]:
    """Spans of the links Bluesky's client would make of `text` (see the module docstring)."""
    spans: list[tuple[int, int]] = []
    for match in _LINK.finditer(text):
        domain = match.group("domain")
        if domain is not None and domain.rsplit(".", 1)[-1].lower() not in _TLDS:
            continue
        start, end = match.span()
        if text[end - 1] in ".,;:!?":
            end -= 1
        if text[end - 1] == ")" and "(" not in text[start:end]:
            end -= 1
        spans.append((start, end))
    return spans


def _byte_span(text: str, start: int, end: int) -> dict[str, int]:
    return {
        "byteStart": len(text[:start].encode("utf-8")),
        "byteEnd": len(text[:end].encode("utf-8")),
    }


def facets(text: str, resolve: Any = None) -> list[dict[str, Any]]:
    """Link, mention and hashtag facets for `text` (UTF-8 byte offsets, end exclusive)."""
    found: list[dict[str, Any]] = []
    taken: list[tuple[int, int]] = []
    for start, end in links(text):
        uri = text[start:end]
        if not uri.lower().startswith(("http://", "https://")):
            uri = "https://" + uri
        taken.append((start, end))
        found.append(
            {
                "index": _byte_span(text, start, end),
                "features": [{"$type": "app.bsky.richtext.facet#link", "uri": uri}],
            }
        )

    def free(start: int, end: int) -> bool:
        return all(end <= s or start >= e for s, e in taken)

    for match in _MENTION.finditer(text):
        if not free(match.start(), match.end()) or resolve is None:
            continue
        did = resolve(match.group(1))
        if did:
            found.append(
                {
                    "index": _byte_span(text, match.start(), match.end()),
                    "features": [{"$type": "app.bsky.richtext.facet#mention", "did": did}],
                }
            )
    for match in re.finditer(r"(?<![\w#&])#(\w[\w-]{0,63})", text):
        tag = match.group(1)
        if tag.isdigit() or not free(match.start(), match.end()):
            continue
        found.append(
            {
                "index": _byte_span(text, match.start(), match.end()),
                "features": [{"$type": "app.bsky.richtext.facet#tag", "tag": tag}],
            }
        )
    found.sort(key=lambda f: int(f["index"]["byteStart"]))
    return found


def _jwt_expiry(token: str) -> datetime | None:
    try:
        payload = token.split(".")[1]
        claims = json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
        return datetime.fromtimestamp(int(claims["exp"]), UTC)
    except (IndexError, ValueError, KeyError, TypeError):
        return None


def session_credentials(
    pds: str, identifier: str, password: str, guard: SafeFetcher
) -> dict[str, Any]:
    """`com.atproto.server.createSession`: the credentials Herald keeps for the account."""
    with h.client(pds, guard=guard) as http:
        response = h.send(
            http,
            "Bluesky",
            "POST",
            "/xrpc/com.atproto.server.createSession",
            json={"identifier": identifier, "password": password},
        )
    data = h.body(response)
    if response.status_code in (400, 401):
        message = data.get("message") or "the handle or app password is wrong"
        raise TokenExpired(f"Bluesky refused the login: {h.plain(message)}")
    if not response.is_success:
        raise Transient(f"Bluesky answered HTTP {response.status_code}")
    return {
        "pds": pds,
        "identifier": identifier,
        "app_password": password,
        "did": data["did"],
        "handle": data.get("handle", identifier),
        "access_jwt": data["accessJwt"],
        "refresh_jwt": data["refreshJwt"],
    }


class BlueskyPublisher(AccountPublisher):
    network = "bluesky"

    def _client(self, account: Account) -> Any:
        return h.client(
            str(account.credentials["pds"]),
            headers={"Authorization": f"Bearer {account.credentials['access_jwt']}"},
            guard=self.hub.fetcher,
        )

    def _check(self, account: Account, response: httpx.Response, what: str) -> dict[str, Any]:
        now = self.hub.clock()
        data = h.body(response)
        if response.is_success:
            return data
        error = str(data.get("error") or "")
        message = h.plain(data.get("message") or error)
        status = response.status_code
        if status == 401 or error in ("ExpiredToken", "InvalidToken", "AuthenticationRequired"):
            raise TokenExpired("the Bluesky session expired; reconnect Bluesky")
        if status == 429:
            until = h.later_of(now, h.epoch(response.headers.get("ratelimit-reset")))
            raise RateLimited("Bluesky is rate limiting this account", until)
        if status in (400, 413):
            raise ContentRejected(f"Bluesky refused the {what}: {message or 'invalid'}")
        h.generic("Bluesky", response, now, message)
        raise Transient(f"Bluesky answered HTTP {status}")

    def _resolver(self, http: httpx.Client) -> Any:
        def resolve(handle: str) -> str | None:
            response = h.send(
                http,
                "Bluesky",
                "GET",
                "/xrpc/com.atproto.identity.resolveHandle",
                params={"handle": handle},
            )
            return str(response.json()["did"]) if response.is_success else None

        return resolve

    def post(self, account: Account, request: PublishRequest) -> Published:
        creds = account.credentials
        rkey = record_key(request.idempotency_key)
        with self._client(account) as http:
            record: dict[str, Any] = {
                "$type": COLLECTION,
                "text": request.text,
                "createdAt": self.hub.clock().strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z",
            }
            rich = facets(request.text, self._resolver(http))
            if rich:
                record["facets"] = rich
            images = []
            for item in request.media[:4]:
                raw = self.hub.media.get(str(item["key"]))
                response = h.send(
                    http,
                    "Bluesky",
                    "POST",
                    "/xrpc/com.atproto.repo.uploadBlob",
                    content=raw,
                    headers={"Content-Type": str(item.get("content_type") or "image/jpeg")},
                )
                blob = self._check(account, response, "image")["blob"]
                image: dict[str, Any] = {"alt": str(item.get("alt") or ""), "image": blob}
                if item.get("width") and item.get("height"):
                    image["aspectRatio"] = {"width": item["width"], "height": item["height"]}
                images.append(image)
            if images:
                record["embed"] = {"$type": "app.bsky.embed.images", "images": images}
            response = h.send(
                http,
                "Bluesky",
                "POST",
                "/xrpc/com.atproto.repo.createRecord",
                json={
                    "repo": creds["did"],
                    "collection": COLLECTION,
                    "rkey": rkey,
                    "record": record,
                },
            )
            if response.status_code == 400 and "already exists" in response.text.lower():
                found = self.lookup(account, request)
                if found is not None:
                    return found
            data = self._check(account, response, "post")
        return Published(external_id=str(data["uri"]), url=self._url(account, rkey))

    def _url(self, account: Account, rkey: str) -> str:
        handle = account.credentials.get("handle") or account.credentials["did"]
        return f"https://bsky.app/profile/{handle}/post/{rkey}"

    def lookup(self, account: Account, request: PublishRequest) -> Published | None:
        rkey = record_key(request.idempotency_key)
        with self._client(account) as http:
            response = h.send(
                http,
                "Bluesky",
                "GET",
                "/xrpc/com.atproto.repo.getRecord",
                params={"repo": account.credentials["did"], "collection": COLLECTION, "rkey": rkey},
            )
        if response.status_code == 400 and "RecordNotFound" in response.text:
            return None
        data = self._check(account, response, "lookup")
        return Published(external_id=str(data["uri"]), url=self._url(account, rkey))

    # --- figures ---------------------------------------------------------------------------

    def figures(self, account: Account, requests: Sequence[FiguresRequest]) -> dict[int, Reading]:
        targets: dict[str, list[int]] = {}
        for request in requests:
            targets.setdefault(request.external_id, []).append(request.target_id)
        uris = list(targets)
        found: dict[str, Reading] = {}
        with self._client(account) as http:
            for start in range(0, len(uris), BATCH):
                params = [("uris", uri) for uri in uris[start : start + BATCH]]
                response = h.send(
                    http, "Bluesky", "GET", "/xrpc/app.bsky.feed.getPosts", params=params
                )
                posts = self._read_check(response).get("posts")
                if not isinstance(posts, list):
                    raise Transient("Bluesky did not answer with the posts")
                for view in posts:
                    if isinstance(view, dict) and view.get("uri") in targets:
                        found[str(view["uri"])] = reading(view)
            for uri in uris:
                if uri not in found and not self._in_repo(http, uri):
                    found[uri] = Reading(gone=True)
        return {
            target: found[uri]
            for uri, of_uri in targets.items()
            if uri in found
            for target in of_uri
        }

    def _in_repo(self, http: httpx.Client, uri: str) -> bool:
        """Whether the record behind a post the App View left out is still in its repository."""
        repo, _, rest = uri.removeprefix("at://").partition("/")
        collection, _, rkey = rest.partition("/")
        if not (uri.startswith("at://") and repo and collection and rkey):
            return False
        response = h.send(
            http,
            "Bluesky",
            "GET",
            "/xrpc/com.atproto.repo.getRecord",
            params={"repo": repo, "collection": collection, "rkey": rkey},
        )
        if response.status_code == 400 and h.body(response).get("error") in (
            "RecordNotFound",
            "RepoNotFound",
        ):
            return False
        self._read_check(response)
        return True

    def _read_check(self, response: httpx.Response) -> dict[str, Any]:
        """A read's answer; a 429 is the reader's own business (never noted on the account)."""
        data = h.body(response)
        if response.is_success:
            return data
        error = str(data.get("error") or "")
        status = response.status_code
        if status == 401 or error in ("ExpiredToken", "InvalidToken", "AuthenticationRequired"):
            raise TokenExpired("the Bluesky session expired; reconnect Bluesky")
        now = self.hub.clock()
        if status == 429:
            headers = response.headers
            until = h.later_of(
                now,
                h.epoch(headers.get("ratelimit-reset")),
                h.retry_after(headers.get("retry-after"), now),
            )
            raise RateLimited("Bluesky is rate limiting this account", until)
        if status >= 500 or status in (408, 425):
            raise Transient(f"Bluesky had a problem on its side (HTTP {status})")
        message = h.plain(data.get("message") or error)
        raise PublishError(f"Bluesky refused to show the posts' figures: {message or status}")

    # --- sessions --------------------------------------------------------------------------

    def can_renew(self, account: Account) -> bool:
        return bool(account.credentials.get("app_password"))

    def renew(self, credentials: dict[str, Any]) -> tuple[dict[str, Any], datetime | None]:
        """refreshSession with the refresh JWT; if that is gone too, a new session."""
        with h.client(
            str(credentials["pds"]),
            headers={"Authorization": f"Bearer {credentials['refresh_jwt']}"},
            guard=self.hub.fetcher,
        ) as http:
            response = h.send(http, "Bluesky", "POST", "/xrpc/com.atproto.server.refreshSession")
        if response.is_success:
            data = response.json()
            fresh = {
                **credentials,
                "access_jwt": data["accessJwt"],
                "refresh_jwt": data["refreshJwt"],
            }
        else:
            fresh = session_credentials(
                str(credentials["pds"]),
                str(credentials["identifier"]),
                str(credentials["app_password"]),
                self.hub.fetcher,
            )
        return fresh, _jwt_expiry(str(fresh["access_jwt"]))


def reading(view: dict[str, Any]) -> Reading:
    """A postView's counts (each optional in the lexicon: absent is 0)."""
    counts = {key: int(view.get(key) or 0) for key in COUNTS}
    return Reading(
        likes=counts["likeCount"],
        reposts=counts["repostCount"],
        replies=counts["replyCount"],
        quotes=counts["quoteCount"],
        raw={key: view[key] for key in COUNTS if key in view},
    )


def expiry_of(credentials: dict[str, Any]) -> datetime | None:
    return _jwt_expiry(str(credentials.get("access_jwt", "")))
