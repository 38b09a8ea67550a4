"""`rollsync serve`: the web app on a threaded WSGI server from the standard library.

No production WSGI server (gunicorn, waitress) is installed in this project, so this
uses `wsgiref` with one thread per request, with Django's static-files handler in
front (the app's own CSS and htmx; nothing user-supplied). It is enough for a school
or an LA team on a trusted network and for the demo; behind a reverse proxy with TLS
for anything more (see docs/web.md). With `worker=True` a background worker thread
processes queued uploads and Force runs in the same process (for the demo; run the
separate worker command in production).
"""

from __future__ import annotations

import os
import threading
from socketserver import ThreadingMixIn
from typing import Any
from wsgiref.simple_server import WSGIRequestHandler, WSGIServer, make_server


class _ThreadingServer(ThreadingMixIn, WSGIServer):
    daemon_threads = True
    allow_reuse_address = True


class _QuietHandler(WSGIRequestHandler):
    def log_message(self, format: str, *args: Any) -> None:
        if os.environ.get("ROLLSYNC_ACCESS_LOG") == "1":
            super().log_message(format, *args)


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


def make(host: str, port: int, *, worker: bool = False) -> tuple[WSGIServer, threading.Event]:
    """Build the server (and start the worker thread when asked); the caller serves."""
    app = application()
    server = make_server(
        host, port, app, server_class=_ThreadingServer, handler_class=_QuietHandler
    )
    stop = threading.Event()
    if worker:
        threading.Thread(target=_worker, args=(stop,), daemon=True, name="worker").start()
    return server, stop


def serve(host: str = "127.0.0.1", port: int = 8000, *, worker: bool = False) -> None:
    """Run the web app until interrupted."""
    server, stop = make(host, port, worker=worker)
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        stop.set()
        server.server_close()
