"""A local Sentry ingest endpoint: takes the SDK's envelopes at /api/<project>/envelope/.

An envelope is newline-separated JSON: the envelope header, then per item its header and its
payload (https://develop.sentry.dev/sdk/data-model/envelopes/); the body may be gzip
compressed (Content-Encoding; brotli only when that package is installed, which it is not here).
Events are kept for tests to read, and the raw bodies too, so a test can look for a secret
anywhere in what left the process.
"""

from __future__ import annotations

import gzip
import json
import threading
from typing import Any, Self

from werkzeug.serving import make_server
from werkzeug.wrappers import Request, Response

KEY = "0123456789abcdef0123456789abcdef"
PROJECT = "42"


class FakeSentry:
    def __init__(self) -> None:
        self.events: list[dict[str, Any]] = []
        self.bodies: list[bytes] = []
        self.lock = threading.Lock()
        self.server = make_server("127.0.0.1", 0, self._app, threaded=True)
        self.dsn = f"http://{KEY}@127.0.0.1:{self.server.server_port}/{PROJECT}"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def start(self) -> Self:
        self.thread.start()
        return self

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()

    def _app(self, environ: dict[str, Any], start_response: Any) -> Any:
        request = Request(environ)
        if request.method != "POST" or request.path != f"/api/{PROJECT}/envelope/":
            return Response("not found", status=404)(environ, start_response)
        if KEY not in request.headers.get("X-Sentry-Auth", ""):
            return Response("bad auth", status=401)(environ, start_response)
        body = request.get_data()
        encoding = request.headers.get("Content-Encoding", "")
        if encoding == "gzip":
            body = gzip.decompress(body)
        elif encoding:  # brotli: the SDK uses it only when the brotli package is installed
            return Response(f"unsupported {encoding}", status=415)(environ, start_response)
        lines = body.split(b"\n")
        with self.lock:
            self.bodies.append(body)
            # After the envelope header: item header, payload, item header, payload, ...
            for header, payload in zip(lines[1::2], lines[2::2], strict=False):
                if header.strip() and json.loads(header).get("type") == "event":
                    self.events.append(json.loads(payload))
        answer = Response(json.dumps({"id": "0" * 32}), content_type="application/json")
        return answer(environ, start_response)
