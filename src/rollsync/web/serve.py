"""`rollsync serve`: the web app on waitress, a production WSGI server.

waitress (pure Python, maintained by the Pylons project) serves with a pool of
threads and is safe to face a reverse proxy; Django's static-files handler sits in
front for the app's own CSS and htmx (nothing user-supplied). Run it behind a
TLS-terminating proxy (docs/web.md). With `worker=True` a background worker thread
processes queued uploads and Force runs in the same process (for the demo; run
`rollsync worker` separately in production).
"""

from __future__ import annotations

import os
import threading
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


def make(
    host: str, port: int, *, worker: bool = False, threads: int = 8
) -> tuple[Any, threading.Event]:
    """Build the server (and start the worker thread when asked); the caller runs it.
    Port 0 picks a free port: `server.effective_port` tells which."""
    from waitress import create_server

    from rollsync.domain.limits import MAX_UPLOAD_BYTES

    # waitress buffers a request body before Django sees it (1 GiB by default): refuse
    # past the one upload limit plus room for the multipart envelope and form fields.
    server = create_server(
        application(),
        host=host,
        port=port,
        threads=threads,
        ident="rollsync",
        max_request_body_size=MAX_UPLOAD_BYTES + 1024 * 1024,
    )
    stop = threading.Event()
    if worker:
        threading.Thread(target=_worker, args=(stop,), daemon=True, name="worker").start()
    return server, stop


def serve(host: str = "127.0.0.1", port: int = 8000, *, worker: bool = False) -> None:
    """Run the web app until interrupted."""
    server, stop = make(host, port, worker=worker)
    try:
        server.run()
    except KeyboardInterrupt:
        pass
    finally:
        stop.set()
        server.close()
