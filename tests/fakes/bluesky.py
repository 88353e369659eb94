"""A local Bluesky PDS: sessions with expiring JWTs, blobs, and records checked against
the pinned lexicons."""

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
        if path == "com.atproto.repo.getRecord":
            rkey = seen.args.get("rkey", "")
            if rkey not in self.records:
                return reply(400, {"error": "RecordNotFound", "message": "Could not locate record"})
            uri = f"at://{self.did}/app.bsky.feed.post/{rkey}"
            return reply(200, {"uri": uri, "cid": "bafyrei" + rkey, "value": self.records[rkey]})
        return reply(404, {"error": "MethodNotImplemented"})
