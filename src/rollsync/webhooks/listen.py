"""`rollsync webhook listen`: a receiver for trying an install (the demo, a new endpoint):
serves on a loopback port, verifies each request with `standardwebhooks` as a real
subscriber would, answers 204 (401 when the signature or timestamp is wrong), and
prints each verified event as one JSON line. No database."""

from __future__ import annotations

import json
import sys
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, TextIO

from standardwebhooks.webhooks import Webhook, WebhookVerificationError

MAX_BODY = 1_000_000


def make_server(*, port: int, secret: str, out: TextIO = sys.stdout) -> ThreadingHTTPServer:
    verifier = Webhook(secret)

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            try:
                length = int(self.headers.get("content-length") or 0)
            except ValueError:
                length = -1
            if not 0 <= length <= MAX_BODY:
                self._answer(413)
                return
            body = self.rfile.read(length).decode("utf-8", "replace")
            headers = {k.lower(): v for k, v in self.headers.items()}
            try:
                payload: Any = verifier.verify(body, headers)
            except (WebhookVerificationError, ValueError) as exc:
                print(json.dumps({"refused": str(exc)}), file=sys.stderr, flush=True)
                self._answer(401)
                return
            line = {"webhook_id": headers["webhook-id"], **payload}
            print(json.dumps(line, ensure_ascii=False), file=out, flush=True)
            self._answer(204)

        def _answer(self, status: int) -> None:
            self.send_response(status)
            self.send_header("content-length", "0")
            self.end_headers()

        def log_message(self, *args: Any) -> None:
            pass

    return ThreadingHTTPServer(("127.0.0.1", port), Handler)
