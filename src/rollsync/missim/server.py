"""The simulators' HTTP server: one per vendor, on a loopback port, in a thread.

A vendor subclasses `SimServer` and implements `handle(request) -> SimResponse` in its
vendor's documented shapes (auth, paging, errors). The base numbers requests, applies
`--faults` (faults.py) around `handle`, logs every request for tests
(`server.requests`: method, path, query, headers), and serves until stopped.
Loopback only: a simulator never listens on another address.
"""

from __future__ import annotations

import json
import socket
import threading
import time
from abc import ABC, abstractmethod
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, ClassVar
from urllib.parse import parse_qs, urlsplit

from rollsync.connectors.http import is_loopback

from .data import SimData
from .faults import Fault, FaultPlan


@dataclass(frozen=True, slots=True)
class SimRequest:
    n: int  # 1-based, in the order received
    method: str
    path: str
    query: dict[str, list[str]]
    headers: dict[str, str]  # lower-cased names
    body: bytes

    def arg(self, name: str, default: str | None = None) -> str | None:
        values = self.query.get(name)
        return values[-1] if values else default

    def form(self) -> dict[str, str]:
        return {k: v[-1] for k, v in parse_qs(self.body.decode("utf-8", "replace")).items()}


@dataclass(slots=True)
class SimResponse:
    status: int = 200
    body: bytes = b""
    headers: dict[str, str] = field(default_factory=dict)

    @classmethod
    def json(cls, value: Any, status: int = 200, **headers: str) -> SimResponse:
        return cls(
            status,
            json.dumps(value).encode("utf-8"),
            {"Content-Type": "application/json", **headers},
        )

    @classmethod
    def html(cls, text: str, status: int = 200, **headers: str) -> SimResponse:
        return cls(
            status, text.encode("utf-8"), {"Content-Type": "text/html; charset=utf-8", **headers}
        )


class SimServer(ABC):
    """A vendor's simulated API. `with IsamsSimulator(data) as sim: sim.url ...`"""

    vendor: ClassVar[str]  # "isams": what `rollsync mis-sim` takes

    def __init__(
        self,
        data: SimData,
        *,
        host: str = "127.0.0.1",
        port: int = 0,
        faults: FaultPlan | str | None = None,
    ) -> None:
        if not is_loopback(host):
            raise ValueError(f"a simulator listens on a loopback address only, not {host}")
        self.data = data
        self.faults = faults if isinstance(faults, FaultPlan) else FaultPlan.parse(faults)
        self.requests: list[SimRequest] = []
        # Tests: while a gate is set and closed, every request waits for it to open (a
        # pull held in flight for as long as the test needs, not for a guessed time).
        self.gate: threading.Event | None = None
        self._lock = threading.Lock()
        self._count = 0
        self._httpd = _Server((host, port), _handler_for(self))
        self._httpd.daemon_threads = True
        self._thread: threading.Thread | None = None

    @property
    def url(self) -> str:
        host, port = self._httpd.server_address[:2]
        return f"http://{host!s}:{port}"

    def start(self) -> SimServer:
        self._thread = threading.Thread(
            target=self._httpd.serve_forever, daemon=True, name=f"{self.vendor}-sim"
        )
        self._thread.start()
        return self

    def serve_forever(self) -> None:
        self._httpd.serve_forever()

    def stop(self) -> None:
        self._httpd.shutdown()
        self._httpd.server_close()
        if self._thread is not None:
            self._thread.join(timeout=10)

    def __enter__(self) -> SimServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def set_faults(self, spec: str | None) -> None:
        """Change the faults and number requests from 1 again (tests)."""
        with self._lock:
            self.faults = FaultPlan.parse(spec)
            self._count = 0

    def _next(self) -> int:
        with self._lock:
            self._count += 1
            return self._count

    @abstractmethod
    def handle(self, request: SimRequest) -> SimResponse:
        """Answer one request as the vendor would."""

    def bad_response(self, request: SimRequest, good: SimResponse) -> SimResponse:
        """`bad@N`: a 200 that breaks the vendor's documented shape. Vendors override
        this to break it in a way their client must notice (a missing key, a wrong type)."""
        return SimResponse.json({"unexpected": True})

    def error_response(self, request: SimRequest, status: int) -> SimResponse:
        """A fault's error answer in the vendor's error shape (vendors override)."""
        return SimResponse.json({"message": f"simulated {status}"}, status)


class _Server(ThreadingHTTPServer):
    def get_request(self) -> tuple[socket.socket, Any]:
        conn, addr = super().get_request()
        # Headers and body go in separate writes: without this, Nagle's algorithm and the
        # client's delayed ACK cost ~40 ms a request (a 600-request Arbor pull took 59 s).
        conn.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        return conn, addr


def _handler_for(server: SimServer) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, format: str, *args: Any) -> None:
            return  # quiet: tests read server.requests instead

        def _serve(self) -> None:
            length = int(self.headers.get("Content-Length") or 0)
            body = self.rfile.read(length) if length else b""
            parts = urlsplit(self.path)
            request = SimRequest(
                n=server._next(),
                method=self.command,
                path=parts.path,
                query=parse_qs(parts.query, keep_blank_values=True),
                headers={k.lower(): v for k, v in self.headers.items()},
                body=body,
            )
            with server._lock:
                server.requests.append(request)
            gate = server.gate
            if gate is not None:
                gate.wait(timeout=300)
            faults = server.faults.for_request(request.n)
            drop = False
            response: SimResponse | None = None
            for fault in faults:
                if fault.kind == "slow":
                    time.sleep(fault.arg or 0)
                elif fault.kind == "drop":
                    drop = True
                elif response is None and fault.kind != "bad":
                    response = _fault_response(server, request, fault)
            if response is None:
                try:
                    response = server.handle(request)
                except Exception as exc:
                    response = SimResponse.json({"message": f"simulator error: {exc}"}, 500)
                if any(f.kind == "bad" for f in faults) and response.status == 200:
                    response = server.bad_response(request, response)
            self.send_response(response.status)
            headers = {"Content-Type": "application/json", **response.headers}
            for name, value in headers.items():
                self.send_header(name, value)
            self.send_header("Content-Length", str(len(response.body)))
            self.end_headers()
            if drop:
                self.wfile.write(response.body[: len(response.body) // 2])
                self.wfile.flush()
                self.close_connection = True
                return
            self.wfile.write(response.body)

        do_GET = do_POST = do_PUT = do_DELETE = _serve

    return Handler


def _fault_response(server: SimServer, request: SimRequest, fault: Fault) -> SimResponse:
    status = int(fault.kind)
    response = server.error_response(request, status)
    if status == 429:
        response.headers["Retry-After"] = f"{fault.arg if fault.arg is not None else 1:g}"
    return response
