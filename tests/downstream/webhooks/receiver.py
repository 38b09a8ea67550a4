"""A real webhook receiver on loopback: an HTTP server in a thread that verifies every
request with the `standardwebhooks` package, as a subscriber would, and keeps what it
accepted. It can be stopped (the port refuses connections) and started again on the
same port, or made to answer 410 Gone."""

from __future__ import annotations

import json
import threading
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from standardwebhooks.webhooks import Webhook, WebhookVerificationError


@dataclass
class Received:
    msg_id: str
    headers: dict[str, str]
    body: str
    payload: dict[str, Any]


@dataclass
class Receiver:
    secret: str = ""
    answer: int = 204
    fail_first: int = 0  # answer 503 to this many requests first
    headers_out: dict[str, str] = field(default_factory=dict)  # sent with every answer
    body_out: bytes = b""  # the answer's body
    stall: threading.Event | None = None  # answer only once it is set (or after 5 s): a hang
    received: list[Received] = field(default_factory=list)
    refused: list[str] = field(default_factory=list)  # why a request failed verification
    requests: int = 0
    port: int = 0
    _server: ThreadingHTTPServer | None = None
    _thread: threading.Thread | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/hooks/rollsync"

    def start(self) -> Receiver:
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                length = int(self.headers.get("content-length") or 0)
                body = self.rfile.read(length).decode("utf-8")
                headers = {k.lower(): v for k, v in self.headers.items()}
                receiver.requests += 1
                status = receiver.answer
                if receiver.fail_first > 0:
                    receiver.fail_first -= 1
                    status = 503
                if status < 300:
                    try:
                        payload = Webhook(receiver.secret).verify(body, headers)
                    except WebhookVerificationError as exc:
                        receiver.refused.append(str(exc))
                        status = 401
                    else:
                        receiver.received.append(
                            Received(headers["webhook-id"], headers, body, payload)
                        )
                if receiver.stall is not None:
                    receiver.stall.wait(5)
                self.send_response(status)
                for name, value in receiver.headers_out.items():
                    self.send_header(name, value)
                self.send_header("content-length", str(len(receiver.body_out)))
                self.end_headers()
                self.wfile.write(receiver.body_out)

            def log_message(self, *args: Any) -> None:
                pass

        self._server = ThreadingHTTPServer(("127.0.0.1", self.port), Handler)
        self.port = self._server.server_address[1]
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None

    def types(self) -> list[str]:
        return [r.payload["type"] for r in self.received]

    def by_account(self) -> dict[str, list[str]]:
        out: dict[str, list[str]] = {}
        for r in self.received:
            account = r.payload["data"].get("account")
            if account:
                out.setdefault(account["username"], []).append(r.payload["type"])
        return out

    def payloads(self) -> list[dict[str, Any]]:
        return [json.loads(r.body) for r in self.received]
