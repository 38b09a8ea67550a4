"""`rollsync serve` answers on a real socket: pages and the app's static files."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import threading
import urllib.request
from typing import Any

import pytest

from rollsync.web.serve import make


@pytest.mark.django_db(transaction=True)
def test_serve_answers_pages_and_static_files() -> None:
    server, stop = make("127.0.0.1", 0)
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    base = f"http://127.0.0.1:{server.effective_port}"
    try:
        with urllib.request.urlopen(f"{base}/login/", timeout=10) as page:
            body = page.read().decode()
            assert page.status == 200
            assert page.headers["Server"] == "rollsync"
            assert 'name="csrfmiddlewaretoken"' in body
        with urllib.request.urlopen(f"{base}/static/web/site.css", timeout=10) as css:
            assert css.status == 200
            assert css.headers["Content-Type"].startswith("text/css")
        # A page behind sign-in sends a stranger to the sign-in page.
        with urllib.request.urlopen(f"{base}/schools/", timeout=10) as redirected:
            assert redirected.url == f"{base}/login/?next=/schools/"
    finally:
        stop.set()
        # Closed in the server's own thread (its trigger runs the call there): closed from
        # this one, the socket could vanish under the loop's select (EBADF in the thread).
        server.trigger.pull_trigger(server.close)
        thread.join(timeout=10)
    assert not thread.is_alive()


def _rollsync(*args: str, tmp_path: Any) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "DATABASE_URL": f"sqlite:///{tmp_path / 'db.sqlite3'}"}
    return subprocess.run(
        [sys.executable, "-c", "from rollsync.cli import main; main()", *args],
        capture_output=True,
        text=True,
        env=env,
        timeout=120,
        check=False,
    )


def test_a_taken_port_is_one_clear_line_not_a_traceback(tmp_path: Any) -> None:
    """A second `./dev demo` (`rollsync demo --serve`) or `rollsync serve` on a port
    another program listens on: one line saying so and what to do, exit 1, and the demo
    does not sync for minutes first."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen(1)
        port = taken.getsockname()[1]
        out = tmp_path / "demo"
        demo = _rollsync(
            "demo", "--serve", "--port", str(port), "--out", str(out), tmp_path=tmp_path
        )
        serve = _rollsync("serve", "--port", str(port), "--no-worker", tmp_path=tmp_path)
    for result in (demo, serve):
        assert (result.returncode, result.stderr) == (
            1,
            f"error: port {port} is in use: pass --port N\n",
        )
    assert demo.stdout == "" and serve.stdout == ""
    assert not out.exists()  # nothing simulated or synced before the check
