"""A test double of the rollsync server's agent endpoints (docs/agent.md, "The agent
protocol"), on a real socket: the agent under test talks to it as to the real server.

Faults a test can ask for: `stop()` (nothing listens), `drop_patch` (the next N PATCHes
are cut after half their body arrived: nothing of that chunk is kept; `drop_every`: every
Nth is), `lose_answer` (the
next N chunks are kept but the connection is cut before the answer, then `then_5xx`
requests answer 503), `fail_5xx` (the next N requests answer 503)."""

from __future__ import annotations

import hashlib
import json
import ssl
import threading
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from lxml import etree

MAX_UPLOAD = 100 * 1024 * 1024


@dataclass
class Upload:
    id: str
    report: str
    sha256: str
    size: int
    data: bytearray = field(default_factory=bytearray)
    state: str = "receiving"
    upload: int | None = None


@dataclass
class State:
    licence_key: str
    tree: dict[str, Any]
    chunk_size: int = 262144
    uploads: dict[str, Upload] = field(default_factory=dict)
    stored: list[tuple[str, bytes]] = field(default_factory=list)
    statuses: list[dict[str, Any]] = field(default_factory=list)
    requests: list[tuple[str, str]] = field(default_factory=list)
    headers: list[dict[str, str]] = field(default_factory=list)
    drop_patch: int = 0
    drop_every: int = 0  # cut every Nth PATCH as drop_patch does
    patches: int = 0
    lose_answer: int = 0  # keep the chunk, then cut the connection without answering
    then_5xx: int = 0  # and answer 503 to that many requests after it
    fail_5xx: int = 0
    lock: threading.Lock = field(default_factory=threading.Lock)

    def accepted(self, report: str) -> bool:
        return any(r["report"] == report and r["state"] == "accepted" for r in self.tree["reports"])


class Handler(BaseHTTPRequestHandler):
    server: _Server
    protocol_version = "HTTP/1.1"

    def log_message(self, format: str, *args: Any) -> None:
        pass

    # --- answers -----------------------------------------------------------------------

    def _send(self, status: int, body: dict[str, Any] | None = None) -> None:
        data = b"" if body is None else json.dumps(body).encode()
        self.send_response(status)
        if body is not None:
            self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def _refuse(self, status: int, error: str, message: str, **extra: Any) -> None:
        self._send(status, {"error": error, "message": message, **extra})

    def _body(self) -> bytes:
        return self.rfile.read(int(self.headers.get("Content-Length") or 0))

    def _begin(self) -> bool:
        """Common checks; False when an answer was sent already."""
        st = self.server.state
        with st.lock:
            st.requests.append((self.command, self.path))
            st.headers.append(dict(self.headers))
            if st.fail_5xx > 0:
                st.fail_5xx -= 1
                self._body()
                self._send(503, {"error": "unavailable", "message": "try later"})
                return False
        if self.headers.get("Authorization") != f"Bearer {st.licence_key}":
            self._body()
            self._refuse(401, "unauthorised", "The licence key is not valid.", field="licence_key")
            return False
        return True

    # --- endpoints ---------------------------------------------------------------------

    def do_GET(self) -> None:
        if not self._begin():
            return
        st = self.server.state
        if self.path == "/agent/v1/hello":
            self._send(
                200,
                {
                    "school": {"urn": "100001", "name": "Hillside Primary"},
                    "la": "Demo LA",
                    "mis": "SIMS",
                    "server_version": "0.1.0",
                    "chunk_size": st.chunk_size,
                },
            )
        elif self.path == "/agent/v1/reports":
            self._send(200, st.tree)
        elif self.path.startswith("/agent/v1/uploads/"):
            up = st.uploads.get(self.path.rsplit("/", 1)[1])
            if up is None:
                self._refuse(404, "not_found", "No such upload.")
            else:
                self._send(
                    200, {"id": up.id, "offset": len(up.data), "size": up.size, "state": up.state}
                )
        else:
            self._refuse(404, "not_found", "No such endpoint.")

    def do_POST(self) -> None:
        if not self._begin():
            return
        st = self.server.state
        try:
            body = json.loads(self._body() or b"null")
        except ValueError:
            self._refuse(422, "invalid", "The body is not JSON.")
            return
        if self.path == "/agent/v1/status":
            st.statuses.append(body)
            self._send(204)
            return
        if self.path != "/agent/v1/uploads":
            self._refuse(404, "not_found", "No such endpoint.")
            return
        keys = ("report", "sha256", "size", "filename", "extracted_at")
        if not isinstance(body, dict) or any(k not in body for k in keys):
            self._refuse(
                422, "invalid", "An upload needs report, sha256, size, filename, extracted_at."
            )
            return
        if not st.accepted(body["report"]):
            self._refuse(403, "not_accepted", f"The school has not accepted {body['report']}.")
            return
        if body["size"] > MAX_UPLOAD:
            self._refuse(413, "too_large", "Over the upload limit.")
            return
        with st.lock:
            for up in st.uploads.values():
                if up.report == body["report"] and up.sha256 == body["sha256"]:
                    if up.state == "stored":
                        self._send(
                            200,
                            {
                                "id": up.id,
                                "state": "stored",
                                "upload": up.upload,
                                "task": "t",
                                "replayed": True,
                            },
                        )
                    else:
                        self._send(
                            200,
                            {
                                "id": up.id,
                                "offset": len(up.data),
                                "size": up.size,
                                "state": "receiving",
                                "chunk_size": st.chunk_size,
                            },
                        )
                    return
            up = Upload(
                f"u_{len(st.uploads) + 1}", body["report"], body["sha256"], int(body["size"])
            )
            st.uploads[up.id] = up
        self._send(
            201,
            {
                "id": up.id,
                "offset": 0,
                "size": up.size,
                "state": "receiving",
                "chunk_size": st.chunk_size,
            },
        )

    def do_PATCH(self) -> None:
        if not self._begin():
            return
        st = self.server.state
        up = st.uploads.get(self.path.rsplit("/", 1)[1])
        length = int(self.headers.get("Content-Length") or 0)
        st.patches += 1
        if st.drop_patch > 0 or (st.drop_every and st.patches % st.drop_every == 0):
            st.drop_patch = max(0, st.drop_patch - 1)
            # Half the body arrives, then the connection is cut: nothing of it is kept.
            self.rfile.read(length // 2)
            self.close_connection = True
            self.connection.shutdown(2)
            return
        data = self.rfile.read(length)
        if st.lose_answer > 0 and up is not None and len(data) == length:
            st.lose_answer -= 1
            if len(up.data) + len(data) < up.size:
                up.data.extend(data)
                st.fail_5xx += st.then_5xx
                self.close_connection = True
                self.connection.shutdown(2)
                return
        if up is None or up.state == "stored":
            self._refuse(404, "not_found", "No such upload.")
            return
        if self.headers.get("Content-Type") != "application/offset+octet-stream":
            self._refuse(422, "invalid", "Content-Type must be application/offset+octet-stream.")
            return
        offset = int(self.headers.get("Upload-Offset", "-1"))
        if offset != len(up.data):
            self._refuse(
                409, "offset_mismatch", "Send from the upload's offset.", offset=len(up.data)
            )
            return
        if len(data) > st.chunk_size or offset + len(data) > up.size:
            self._refuse(422, "invalid", "The chunk is too large.")
            return
        up.data.extend(data)
        if len(up.data) < up.size:
            self._send(
                200, {"id": up.id, "offset": len(up.data), "size": up.size, "state": "receiving"}
            )
            return
        whole = bytes(up.data)
        problem = None
        if hashlib.sha256(whole).hexdigest() != up.sha256:
            problem = "The file's SHA-256 does not match the one begun with."
        else:
            try:
                root = etree.fromstring(
                    whole, etree.XMLParser(resolve_entities=False, no_network=True)
                )
                if root.tag != "SuperStarReport":
                    problem = f"Not a SuperStarReport: <{root.tag}>."
            except etree.XMLSyntaxError as exc:
                problem = f"Not XML: {exc}"
        if problem:
            del st.uploads[up.id]
            self._refuse(422, "invalid", problem)
            return
        up.state = "stored"
        st.stored.append((up.report, whole))
        up.upload = len(st.stored)
        self._send(
            200,
            {"id": up.id, "state": "stored", "upload": up.upload, "task": "t", "replayed": False},
        )


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    state: State


class ProtocolServer:
    """Start, stop and start again on the same port; the state outlives a stop."""

    def __init__(self, state: State, tls: ssl.SSLContext | None = None) -> None:
        self.state = state
        self.tls = tls
        self.port = 0
        self._httpd: _Server | None = None
        self._thread: threading.Thread | None = None

    @property
    def url(self) -> str:
        return f"{'https' if self.tls else 'http'}://127.0.0.1:{self.port}"

    def start(self) -> ProtocolServer:
        httpd = _Server(("127.0.0.1", self.port), Handler)
        httpd.state = self.state
        if self.tls is not None:
            httpd.socket = self.tls.wrap_socket(httpd.socket, server_side=True)
        self.port = httpd.server_address[1]
        self._httpd = httpd
        self._thread = threading.Thread(target=httpd.serve_forever, daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        if self._httpd is not None:
            self._httpd.shutdown()
            self._httpd.server_close()
            self._httpd = None
