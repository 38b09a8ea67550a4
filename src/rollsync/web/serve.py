"""`rollsync serve`: the web app on waitress, a production WSGI server.

waitress (pure Python, maintained by the Pylons project) serves with a pool of
threads and is safe to face a reverse proxy; Django's static-files handler sits in
front for the app's own CSS and htmx (nothing user-supplied). Run it behind a
TLS-terminating proxy (docs/web.md). With `worker=True` a background worker thread
processes queued uploads and Force runs in the same process (for the demo; run
`rollsync worker` separately in production).
"""

from __future__ import annotations

import errno
import os
import socket
import threading
import time
from collections.abc import Callable
from typing import Any


def application() -> Any:
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "rollsync.config.settings")
    import django
    from django.contrib.staticfiles.handlers import StaticFilesHandler
    from django.core.wsgi import get_wsgi_application

    django.setup()
    return StaticFilesHandler(get_wsgi_application())


def _worker(stop: threading.Event) -> None:
    """The background worker in a thread of this process (the demo): every second it
    queues what the schedules say is due and runs what is due on the queue
    (`tasks.run_queued`, the in-process worker; a django-q2 cluster wants the main
    thread for its signals and processes of its own)."""
    from django.conf import settings
    from django.db import connections

    from rollsync.directory import tasks

    period = float(getattr(settings, "ROLLSYNC_SCHEDULER_SECONDS", 10))
    next_look = 0.0
    try:
        while not stop.is_set():
            if time.monotonic() >= next_look:
                tasks.run_schedules()
                next_look = time.monotonic() + period
            tasks.run_queued()
            stop.wait(1.0)
    finally:
        connections.close_all()


class PortInUse(Exception):
    """Another program (often a first `./dev demo`) already listens on the port."""

    def __init__(self, port: int) -> None:
        self.port = port
        super().__init__(f"port {port} is in use: pass --port N")


def port_check(host: str, port: int) -> None:
    """Raise `PortInUse` when the port cannot be listened on now (checked before a long
    demo so that it fails at once, not after minutes of syncing)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # as waitress does
        try:
            probe.bind((host, port))
        except OSError as exc:
            if exc.errno == errno.EADDRINUSE:
                raise PortInUse(port) from None
            raise


def make(
    host: str, port: int, *, worker: bool = False, threads: int = 8
) -> tuple[Any, threading.Event]:
    """Build the server (and start the worker thread when asked); the caller runs it.
    Port 0 picks a free port: `server.effective_port` tells which."""
    from waitress import create_server

    from rollsync.domain.limits import MAX_UPLOAD_BYTES

    # waitress buffers a request body before Django sees it (1 GiB by default): refuse
    # past the one upload limit plus room for the multipart envelope and form fields.
    try:
        server = create_server(
            application(),
            host=host,
            port=port,
            threads=threads,
            ident="rollsync",
            max_request_body_size=MAX_UPLOAD_BYTES + 1024 * 1024,
        )
    except OSError as exc:
        if exc.errno == errno.EADDRINUSE:
            raise PortInUse(port) from None
        raise
    stop = threading.Event()
    if worker:
        threading.Thread(target=_worker, args=(stop,), daemon=True, name="worker").start()
    return server, stop


def serve(
    host: str = "127.0.0.1",
    port: int = 8000,
    *,
    worker: bool = False,
    ready: Callable[[], None] | None = None,
) -> None:
    """Run the web app until interrupted (`PortInUse` when the port is taken; `ready`
    is called once it listens)."""
    server, stop = make(host, port, worker=worker)
    if ready is not None:
        ready()
    try:
        server.run()
    except KeyboardInterrupt:
        pass
    finally:
        stop.set()
        server.close()
