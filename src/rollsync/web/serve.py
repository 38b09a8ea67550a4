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
    """django-tasks' database worker, run in a thread (its command wants the main thread
    for signal handling, so the Worker is used directly)."""
    from django_tasks_db.management.commands.db_worker import Worker

    worker = Worker(
        queue_names=["*"],
        interval=1.0,
        batch=False,
        backend_name="default",
        startup_delay=False,
        max_tasks=None,
        worker_id="serve-in-process",
        excluded_queue_names=[],
    )

    def watch() -> None:
        stop.wait()
        worker.running = False

    threading.Thread(target=watch, daemon=True, name="worker-stop").start()
    worker.run()


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
