"""A local Bluesky PDS: sessions with expiring JWTs, blobs, records checked against the
pinned lexicons, and posts read back through the App View (`app.bsky.feed.getPosts`).

The post views follow `app.bsky.feed.defs#postView` (bluesky-social/atproto, lexicons/app/bsky/
feed/defs.json): required uri, cid, author (`app.bsky.actor.defs#profileViewBasic`: did,
handle), record and indexedAt; optional counts (replyCount, repostCount, likeCount, quoteCount,
bookmarkCount), embed view, viewer and labels. getPosts takes at most 25 `uris`
(lexicons/app/bsky/feed/getPosts.json) and leaves out a post it cannot find."""

from __future__ import annotations

import base64
import hashlib
import json
import secrets
import time
from functools import cache
from typing import Any

from sqlalchemy import select
from werkzeug.wrappers import Request, Response

from bot.runtime import Runtime
from storage.models import ConnectedAccount
from tests.fakes.server import (
    SPECS,
    FakeServer,
    Seen,
    bearer,
    reply,
)
from tests.support.helpers import actor


@cache
def lexicon(nsid: str) -> dict[str, Any]:
    data: dict[str, Any] = json.loads((SPECS / "bluesky-lexicons" / f"{nsid}.json").read_text())
    return data


def _lex_check(nsid: str, name: str, value: Any, errors: list[str], where: str) -> None:
    """A small validator for the lexicon subset posts use (objects, strings, arrays, refs)."""
    defs = lexicon(nsid)["defs"]
    schema = defs[name]
    if schema["type"] == "record":
        schema = schema["record"]
    _lex_value(nsid, schema, value, errors, where)


def _lex_value(
    nsid: str, schema: dict[str, Any], value: Any, errors: list[str], where: str
) -> None:
    kind = schema.get("type")
    if kind == "ref":
        ref = schema["ref"]
        target_nsid, _, name = ref.partition("#")
        target_nsid = target_nsid or nsid
        if (SPECS / "bluesky-lexicons" / f"{target_nsid}.json").exists():
            _lex_check(target_nsid, name or "main", value, errors, where)
        return
    if kind == "union":
        if not isinstance(value, dict) or "$type" not in value:
            errors.append(f"{where}: union member without $type")
            return
        refs = [r if "#" in r or "." in r else nsid + r for r in schema["refs"]]
        name = value["$type"]
        wanted = name if "#" in name else name + "#main"
        full = [(r if not r.startswith("#") else nsid + r) for r in refs]
        full = [r if "#" in r else r + "#main" for r in full]
        if wanted not in full:
            errors.append(f"{where}: $type {name} not allowed")
            return
        target_nsid, _, def_name = wanted.partition("#")
        if (SPECS / "bluesky-lexicons" / f"{target_nsid}.json").exists():
            _lex_check(target_nsid, def_name, value, errors, where)
        return
    if kind == "object":
        if not isinstance(value, dict):
            errors.append(f"{where}: not an object")
            return
        for key in schema.get("required", []):
            if key not in value:
                errors.append(f"{where}: missing {key}")
        for key, sub in schema.get("properties", {}).items():
            if key in value:
                _lex_value(nsid, sub, value[key], errors, f"{where}.{key}")
        return
    if kind == "array":
        if not isinstance(value, list):
            errors.append(f"{where}: not an array")
            return
        if "maxLength" in schema and len(value) > schema["maxLength"]:
            errors.append(f"{where}: more than {schema['maxLength']} items")
        for i, item in enumerate(value):
            _lex_value(nsid, schema["items"], item, errors, f"{where}[{i}]")
        return
    if kind == "string":
        if not isinstance(value, str):
            errors.append(f"{where}: not a string")
            return
        import regex

        if "maxGraphemes" in schema and len(regex.findall(r"\X", value)) > schema["maxGraphemes"]:
            errors.append(f"{where}: more than {schema['maxGraphemes']} graphemes")
        if "maxLength" in schema and len(value.encode()) > schema["maxLength"]:
            errors.append(f"{where}: more than {schema['maxLength']} bytes")
        if schema.get("format") == "datetime" and not value.endswith("Z"):
            errors.append(f"{where}: datetime without Z")
        return
    if kind == "integer":
        if not isinstance(value, int) or value < schema.get("minimum", 0):
            errors.append(f"{where}: not a valid integer")
        return
    if kind == "blob":
        if not isinstance(value, dict) or value.get("$type") != "blob":
            errors.append(f"{where}: not a blob")
        elif "maxSize" in schema and value.get("size", 0) > schema["maxSize"]:
            errors.append(f"{where}: blob larger than {schema['maxSize']}")


def bluesky_record_errors(record: dict[str, Any]) -> list[str]:
    errors: list[str] = []
    _lex_check("app.bsky.feed.post", "main", record, errors, "record")
    if record.get("$type") != "app.bsky.feed.post":
        errors.append("record: wrong $type")
    text = record.get("text", "").encode()
    for facet in record.get("facets", []):
        index = facet["index"]
        if not 0 <= index["byteStart"] < index["byteEnd"] <= len(text):
            errors.append(f"facet {index} outside the text")
    return errors


def _now() -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%S.000Z", time.gmtime())


def _jwt(exp: int, kind: str) -> str:
    def part(data: dict[str, Any]) -> str:
        return base64.urlsafe_b64encode(json.dumps(data).encode()).rstrip(b"=").decode()

    return (
        f"{part({'alg': 'none'})}.{part({'exp': exp, 'scope': kind, 'n': secrets.token_hex(3)})}.x"
    )


class FakeBluesky(FakeServer):
    """A PDS: sessions, createRecord (validated against the lexicons), getRecord, uploadBlob."""

    def __init__(self) -> None:
        super().__init__()
        self.did = "did:plc:abc123"
        self.handle = "acme.bsky.social"
        self.password = "app-pass-word"
        self.access: set[str] = set()
        self.refresh: set[str] = set()
        self.records: dict[str, dict[str, Any]] = {}
        self.blobs: dict[str, bytes] = {}
        self.record_errors: list[str] = []
        self.sessions_created = 0
        self.sessions_refreshed = 0
        self.access_ttl = 7200
        self.counts: dict[str, dict[str, int]] = {}  # rkey -> likeCount, repostCount, …
        self.unindexed: set[str] = set()  # rkeys in the repository the App View has not seen

    def new_session(self) -> dict[str, str]:
        now = int(time.time())
        access, refresh = _jwt(now + self.access_ttl, "access"), _jwt(now + 86400 * 60, "refresh")
        self.access.add(access)
        self.refresh.add(refresh)
        return {"accessJwt": access, "refreshJwt": refresh, "handle": self.handle, "did": self.did}

    def connect(self, rt: Runtime) -> int:
        """acme.bsky.social through the chat command, the way people connect Bluesky."""
        line = f"connect bluesky {self.handle} {self.password} {self.url}"
        reply = rt.herald.handle(actor("maria"), line)
        assert not reply.error, reply.text
        with rt.db.session() as s:
            return int(
                s.scalars(
                    select(ConnectedAccount.id).where(ConnectedAccount.network == "bluesky")
                ).one()
            )

    def uri(self, rkey: str) -> str:
        return f"at://{self.did}/app.bsky.feed.post/{rkey}"

    def add_post(self, text: str) -> str:
        """A post made elsewhere (the Bluesky app): its at:// uri."""
        rkey = self.next_id()
        self.records[rkey] = {"$type": "app.bsky.feed.post", "text": text, "createdAt": _now()}
        return self.uri(rkey)

    def react(self, uri: str, **counts: int) -> None:
        """People liked, reposted, replied to or quoted a post: its counts become these
        (likeCount=…, repostCount=…, replyCount=…, quoteCount=…)."""
        self.counts.setdefault(uri.rsplit("/", 1)[1], {}).update(counts)

    def delete(self, uri: str) -> None:
        """Deleted in the app: gone from the repository and from the App View."""
        self.records.pop(uri.rsplit("/", 1)[1])

    def post_view(self, rkey: str) -> dict[str, Any]:
        """`app.bsky.feed.defs#postView`, as the App View hydrates it."""
        record = self.records[rkey]
        counts = {"replyCount": 0, "repostCount": 0, "likeCount": 0, "quoteCount": 0}
        view: dict[str, Any] = {
            "uri": self.uri(rkey),
            "cid": "bafyrei" + rkey,
            "author": {
                "did": self.did,
                "handle": self.handle,
                "displayName": "Acme",
                "labels": [],
                "createdAt": "2023-04-01T10:00:00.000Z",
            },
            "record": record,
            **counts,
            **self.counts.get(rkey, {}),
            "bookmarkCount": 0,
            "indexedAt": record.get("createdAt") or _now(),
            "viewer": {"threadMuted": False, "embeddingDisabled": False},
            "labels": [],
        }
        images = (record.get("embed") or {}).get("images")
        if images:
            cdn = f"https://cdn.bsky.app/img/feed_thumbnail/plain/{self.did}"
            view["embed"] = {
                "$type": "app.bsky.embed.images#view",
                "images": [
                    {
                        "thumb": f"{cdn}/{i['image']['ref']['$link']}@jpeg",
                        "fullsize": f"{cdn}/{i['image']['ref']['$link']}@jpeg",
                        "alt": i.get("alt", ""),
                    }
                    for i in images
                ],
            }
        return view

    def get_posts(self, uris: list[str]) -> Response:
        """app.bsky.feed.getPosts: 1 to 25 at-uris; what cannot be found is left out."""
        if not uris:
            return reply(
                400,
                {
                    "error": "InvalidRequest",
                    "message": 'Error: Params must have the property "uris"',
                },
            )
        if len(uris) > 25:
            return reply(
                400,
                {
                    "error": "InvalidRequest",
                    "message": "Error: uris must not have more than 25 elements",
                },
            )
        for n, uri in enumerate(uris):
            if not uri.startswith("at://"):
                return reply(
                    400,
                    {
                        "error": "InvalidRequest",
                        "message": f"Error: uris/{n} must be a valid at-uri",
                    },
                )
        prefix = self.uri("")
        posts = [
            self.post_view(uri.removeprefix(prefix))
            for uri in dict.fromkeys(uris)
            if uri.startswith(prefix)
            and uri.removeprefix(prefix) in self.records
            and uri.removeprefix(prefix) not in self.unindexed
        ]
        return reply(200, {"posts": posts}, self.limits())

    def limits(self) -> dict[str, str]:
        return {
            "ratelimit-limit": "3000",
            "ratelimit-remaining": "2999",
            "ratelimit-reset": str(int(time.time()) + 300),
            "ratelimit-policy": "3000;w=300",
        }

    def route(self, seen: Seen, request: Request) -> Response:
        path = seen.path.removeprefix("/xrpc/")
        if path == "com.atproto.server.createSession":
            scripted = self.scripted("session")
            if scripted is not None:
                return scripted
            body = seen.json or {}
            if (
                body.get("identifier") not in (self.handle, self.did)
                or body.get("password") != self.password
            ):
                return reply(
                    401,
                    {
                        "error": "AuthenticationRequired",
                        "message": "Invalid identifier or password",
                    },
                )
            self.sessions_created += 1
            return reply(200, self.new_session())
        if path == "com.atproto.server.refreshSession":
            token = bearer(seen)
            if token not in self.refresh:
                return reply(400, {"error": "ExpiredToken", "message": "Token has expired"})
            self.refresh.discard(token or "")
            self.sessions_refreshed += 1
            return reply(200, self.new_session())
        if path == "com.atproto.identity.resolveHandle":
            if seen.args.get("handle") == "friend.bsky.social":
                return reply(200, {"did": "did:plc:friend"})
            return reply(400, {"error": "InvalidRequest", "message": "Unable to resolve handle"})
        if bearer(seen) not in self.access:
            return reply(400, {"error": "ExpiredToken", "message": "Token has expired"})
        if path == "com.atproto.repo.uploadBlob":
            scripted = self.scripted("media")
            if scripted is not None:
                return scripted
            if len(seen.body) > 2_000_000:
                return reply(400, {"error": "BlobTooLarge", "message": "This file is too large."})
            link = "bafkrei" + hashlib.sha256(seen.body).hexdigest()[:40]
            self.blobs[link] = seen.body
            return reply(
                200,
                {
                    "blob": {
                        "$type": "blob",
                        "ref": {"$link": link},
                        "mimeType": seen.headers.get("Content-Type"),
                        "size": len(seen.body),
                    }
                },
            )
        if path == "com.atproto.repo.createRecord":
            scripted = self.scripted("post")
            if scripted is not None:
                return scripted
            body = seen.json
            errors = bluesky_record_errors(body["record"])
            if errors:
                self.record_errors.extend(errors)
                return reply(400, {"error": "InvalidRequest", "message": errors[0]})
            rkey = body.get("rkey") or self.next_id()
            if rkey in self.records:
                return reply(400, {"error": "InvalidRequest", "message": "Record already exists"})
            self.records[rkey] = body["record"]
            uri = f"at://{self.did}/app.bsky.feed.post/{rkey}"
            return reply(
                200,
                {
                    "uri": uri,
                    "cid": "bafyrei" + rkey,
                    "commit": {"cid": "bafyc", "rev": "1"},
                    "validationStatus": "valid",
                },
                {
                    "ratelimit-limit": "5000",
                    "ratelimit-remaining": "4999",
                    "ratelimit-reset": str(int(time.time()) + 3600),
                    "ratelimit-policy": "5000;w=3600",
                },
            )
        if path == "app.bsky.feed.getPosts":
            scripted = self.scripted("read")
            if scripted is not None:
                return scripted
            return self.get_posts(request.args.getlist("uris"))
        if path == "com.atproto.repo.getRecord":
            rkey = seen.args.get("rkey", "")
            if rkey not in self.records:
                return reply(400, {"error": "RecordNotFound", "message": "Could not locate record"})
            uri = f"at://{self.did}/app.bsky.feed.post/{rkey}"
            return reply(200, {"uri": uri, "cid": "bafyrei" + rkey, "value": self.records[rkey]})
        return reply(404, {"error": "MethodNotImplemented"})
