"""Worker "hosts" on one machine: each a Linux network namespace (`ip netns`), joined to
the machine by a veth pair, with its own loopback, addresses and processes, reaching the
one PostgreSQL over the network as a worker on another host would.

    with Hosts(2) as hosts:
        worker = hosts.spawn(0, ["rollsync", "worker"], env={"DATABASE_URL": hosts.url(0, url)})
        ...
        hosts.lose(0)   # the host is gone: every process in it killed, its link cut

PostgreSQL here listens on 127.0.0.1 only, which a namespace cannot reach (its
127.0.0.1 is its own). Each host's veth address on the machine's side therefore gets a
relay, a plain TCP forwarder to the server: to the workers it is "the database host".
Needs root and the `ip` tool (`available()`); the bench and the tests skip without them.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import random
import shutil
import signal
import subprocess
import threading
import time
import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

# Host k's link: 10.<s>.k.1 on the machine's side, 10.<s>.k.2 inside the namespace, with
# <s> one of these that no address of the machine is in (`_free_subnet`).
SUBNETS = range(200, 251)


def available() -> bool:
    """Root, the `ip` tool, and namespaces that can be made here."""
    if os.geteuid() != 0 or shutil.which("ip") is None:
        return False
    probe = f"rsprobe{uuid.uuid4().hex[:6]}"
    made = subprocess.run(["ip", "netns", "add", probe], capture_output=True)
    if made.returncode != 0:
        return False
    subprocess.run(["ip", "netns", "delete", probe], capture_output=True)
    return True


def _free_subnet() -> str:
    """A 10.<s> network no interface of the machine has an address in: two sets of hosts
    at once (two test runs side by side) or a namespace left behind by a killed run never
    share addresses, which would route one's replies to the other."""
    used = subprocess.run(["ip", "-o", "addr"], capture_output=True, text=True).stdout
    for octet in random.sample(SUBNETS, len(SUBNETS)):
        if f" 10.{octet}." not in used:
            return f"10.{octet}"
    raise RuntimeError("every 10.200-250 network is in use on this machine")


def _ip(*args: str) -> None:
    done = subprocess.run(["ip", *args], capture_output=True, text=True)
    if done.returncode != 0:
        raise RuntimeError(f"ip {' '.join(args)}: {done.stderr.strip()}")


@dataclass
class _Relay:
    """TCP forwarders from each host's gateway address to the database server, on one
    event loop in a thread of this process."""

    target: tuple[str, int]
    loop: asyncio.AbstractEventLoop = field(default_factory=asyncio.new_event_loop)
    servers: list[asyncio.base_events.Server] = field(default_factory=list)
    thread: threading.Thread | None = None

    def start(self) -> None:
        self.thread = threading.Thread(target=self.loop.run_forever, daemon=True)
        self.thread.start()

    def listen(self, address: str, port: int) -> None:
        async def make() -> asyncio.base_events.Server:
            return await asyncio.start_server(self._pipe, address, port)

        self.servers.append(asyncio.run_coroutine_threadsafe(make(), self.loop).result(10))

    async def _pipe(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            up_reader, up_writer = await asyncio.open_connection(*self.target)
        except OSError:
            writer.close()
            return

        async def copy(src: asyncio.StreamReader, dst: asyncio.StreamWriter) -> None:
            try:
                while data := await src.read(65536):
                    dst.write(data)
                    await dst.drain()
            except (ConnectionError, OSError):
                pass
            finally:
                with contextlib.suppress(Exception):
                    dst.close()

        await asyncio.gather(copy(reader, up_writer), copy(up_reader, writer))

    def stop(self) -> None:
        async def close() -> None:
            for server in self.servers:
                server.close()

        if self.thread is not None:
            asyncio.run_coroutine_threadsafe(close(), self.loop).result(10)
            self.loop.call_soon_threadsafe(self.loop.stop)
            self.thread.join(10)


class Hosts:
    """`count` namespaces named rs<tag>-<k>, made on enter and removed on exit."""

    def __init__(self, count: int, *, database: tuple[str, int] = ("127.0.0.1", 5432)) -> None:
        self.count = count
        self.tag = uuid.uuid4().hex[:6]
        self.names = [f"rs{self.tag}-{k}" for k in range(count)]
        self.database = database
        self.relay = _Relay(database)
        self.processes: list[list[subprocess.Popen[bytes]]] = [[] for _ in range(count)]
        self.lost: set[int] = set()
        self.subnet = ""

    def __enter__(self) -> Hosts:
        try:
            self.subnet = _free_subnet()
            self.relay.start()
            for k, name in enumerate(self.names):
                outside, inside = f"rs{self.tag}o{k}", f"rs{self.tag}i{k}"
                _ip("netns", "add", name)
                _ip("link", "add", outside, "type", "veth", "peer", "name", inside)
                _ip("link", "set", inside, "netns", name)
                _ip("addr", "add", f"{self.gateway(k)}/30", "dev", outside)
                _ip("link", "set", outside, "up")
                _ip("-n", name, "addr", "add", f"{self.subnet}.{k}.2/30", "dev", inside)
                _ip("-n", name, "link", "set", inside, "up")
                _ip("-n", name, "link", "set", "lo", "up")
                self.relay.listen(self.gateway(k), self.database[1])
        except BaseException:
            self.__exit__()
            raise
        return self

    def __exit__(self, *exc: object) -> None:
        for k in range(self.count):
            self._kill(k)
        self.relay.stop()
        for k, name in enumerate(self.names):
            subprocess.run(["ip", "netns", "delete", name], capture_output=True)
            subprocess.run(["ip", "link", "delete", f"rs{self.tag}o{k}"], capture_output=True)

    def gateway(self, k: int) -> str:
        """The database's address as host k sees it."""
        return f"{self.subnet}.{k}.1"

    def url(self, k: int, database_url: str) -> str:
        """`database_url` (on 127.0.0.1) as host k reaches it."""
        parts = urlsplit(database_url)
        credentials = parts.netloc.rsplit("@", 1)[0] + "@" if "@" in parts.netloc else ""
        netloc = f"{credentials}{self.gateway(k)}:{self.database[1]}"
        return urlunsplit((parts.scheme, netloc, parts.path, parts.query, parts.fragment))

    def spawn(
        self,
        k: int,
        command: Sequence[str],
        *,
        env: Mapping[str, str],
        log: Path,
        cwd: Path | None = None,
    ) -> subprocess.Popen[bytes]:
        """Start `command` on host k (its output appended to `log`)."""
        with log.open("ab") as out:
            proc = subprocess.Popen(
                ["ip", "netns", "exec", self.names[k], *command],
                env=dict(env),
                stdout=out,
                stderr=subprocess.STDOUT,
                cwd=cwd,
                start_new_session=True,
            )
        self.processes[k].append(proc)
        return proc

    def pids(self, k: int) -> list[int]:
        done = subprocess.run(
            ["ip", "netns", "pids", self.names[k]], capture_output=True, text=True
        )
        return [int(x) for x in done.stdout.split()]

    def lose(self, k: int) -> None:
        """Host k is gone, as when its power fails: every process in it is killed at once
        (SIGKILL, no clean-up), then its link is cut."""
        self._kill(k)
        subprocess.run(["ip", "link", "set", f"rs{self.tag}o{k}", "down"], capture_output=True)
        self.lost.add(k)

    def cut(self, k: int) -> None:
        """Host k's network is gone, its processes still running (a switch or a cable,
        not the power): they can reach nothing, and nothing reaches them. The database
        is not told: its sessions from the host stay open (the relay, like a real network,
        keeps its side of each connection), as a server sees a host that went silent."""
        subprocess.run(["ip", "link", "set", f"rs{self.tag}o{k}", "down"], capture_output=True)

    def heal(self, k: int) -> None:
        """Host k's network is back."""
        subprocess.run(["ip", "link", "set", f"rs{self.tag}o{k}", "up"], capture_output=True)

    def _kill(self, k: int) -> None:
        for pid in self.pids(k):
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
        for proc in self.processes[k]:
            with contextlib.suppress(subprocess.TimeoutExpired):
                proc.wait(timeout=30)
        deadline = time.monotonic() + 30
        while self.pids(k) and time.monotonic() < deadline:
            time.sleep(0.05)

    def stop(self, k: int, proc: subprocess.Popen[bytes]) -> int:
        """SIGTERM, as a service manager stops a worker; its exit code."""
        if proc.poll() is None:
            proc.terminate()
            try:
                proc.wait(timeout=60)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(timeout=10)
        return int(proc.returncode)
