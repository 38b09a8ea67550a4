"""A TCP relay between the agent and the server, for end-to-end tests: it keeps every byte
the agent sent (what went over the wire, not what the agent says it sent), can cut a
connection part-way through an upload's chunk, and can be stopped and started again on
the same port (the server down, then back)."""

from __future__ import annotations

import contextlib
import socket
import threading
from dataclasses import dataclass, field


@dataclass
class Cut:
    """Cut the connection once `after` bytes of a request starting with `marker` went by,
    letting the first `skip` such requests through whole."""

    marker: bytes
    after: int
    times: int = 1
    skip: int = 0
    done: int = 0
    seen: int = 0  # requests with the marker so far, on every connection


@dataclass
class Relay:
    target: tuple[str, int]
    port: int = 0
    sent: bytearray = field(default_factory=bytearray)  # everything the agent sent
    cuts: list[Cut] = field(default_factory=list)
    connections: int = 0

    def __post_init__(self) -> None:
        self._lock = threading.Lock()
        self._listener: socket.socket | None = None
        self._open: list[socket.socket] = []

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> Relay:
        listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        listener.bind(("127.0.0.1", self.port))
        listener.listen(32)
        self.port = listener.getsockname()[1]
        self._listener = listener
        threading.Thread(target=self._accept, args=(listener,), daemon=True).start()
        return self

    def stop(self) -> None:
        """Close the listener and every open connection: the server is unreachable."""
        listener, self._listener = self._listener, None
        if listener is not None:
            with contextlib.suppress(OSError):
                listener.shutdown(socket.SHUT_RDWR)
            listener.close()
        with self._lock:
            for s in self._open:
                with contextlib.suppress(OSError):
                    s.shutdown(socket.SHUT_RDWR)
                s.close()
            self._open.clear()

    def _accept(self, listener: socket.socket) -> None:
        while True:
            try:
                client, _ = listener.accept()
            except OSError:
                return
            try:
                upstream = socket.create_connection(self.target, timeout=10)
            except OSError:
                client.close()
                continue
            upstream.settimeout(None)
            with self._lock:
                self.connections += 1
                self._open += [client, upstream]
            threading.Thread(
                target=self._agent_to_server, args=(client, upstream), daemon=True
            ).start()
            threading.Thread(target=self._pump, args=(upstream, client), daemon=True).start()

    def _agent_to_server(self, client: socket.socket, upstream: socket.socket) -> None:
        seen = bytearray()
        due: int | None = None  # where in `seen` this connection is to be cut
        while True:
            try:
                data = client.recv(65536)
            except OSError:
                break
            if not data:
                break
            start = len(seen)
            seen += data
            if due is None:
                due = self._new_cut(seen, start)
            cut_here = due is not None and due <= len(seen)
            if cut_here:
                assert due is not None
                data = data[: max(0, due - start)]
            with self._lock:
                self.sent += data
            with contextlib.suppress(OSError):
                upstream.sendall(data)
            if cut_here:
                break
        for s in (client, upstream):
            with contextlib.suppress(OSError):
                s.shutdown(socket.SHUT_RDWR)
            s.close()

    def _new_cut(self, seen: bytearray, start: int) -> int | None:
        """Count the markers that arrived from `start` on; the offset in `seen` at which
        to cut when one of them is the request a cut is waiting for."""
        with self._lock:
            for cut in self.cuts:
                at = seen.find(cut.marker, max(0, start - len(cut.marker) + 1))
                while at >= 0:
                    cut.seen += 1
                    if cut.seen > cut.skip and cut.done < cut.times:
                        cut.done += 1
                        return at + cut.after
                    at = seen.find(cut.marker, at + 1)
        return None

    @staticmethod
    def _pump(src: socket.socket, dst: socket.socket) -> None:
        while True:
            try:
                data = src.recv(65536)
            except OSError:
                break
            if not data:
                break
            try:
                dst.sendall(data)
            except OSError:
                break
        for s in (src, dst):
            with contextlib.suppress(OSError):
                s.shutdown(socket.SHUT_RDWR)
