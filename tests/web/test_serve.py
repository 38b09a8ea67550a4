"""`rollsync serve` answers on a real socket: pages and the app's static files."""

from __future__ import annotations

import threading
import urllib.request

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
        server.close()
        thread.join(timeout=10)
