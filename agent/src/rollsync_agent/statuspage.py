"""`rollsync-agent status-page`: one page with the lights and the last log lines, on
127.0.0.1 only, and the same as `/status.json`. Nothing secret is ever on it."""

from __future__ import annotations

import html
import json
import sys
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

from rollsync_agent.logs import tail
from rollsync_agent.redact import REDACT
from rollsync_agent.secret_store import SecretStore
from rollsync_agent.status import LIGHTS, Status

ALLOWED_HOSTS = ("127.0.0.1", "localhost")
COLOURS = {"green": "#1b7f3b", "yellow": "#9a6700", "red": "#b42318"}


def snapshot(home: Path) -> dict[str, Any]:
    return {**Status(home).as_dict(), "log": REDACT.lines(tail(home, 50))}


def page(data: dict[str, Any]) -> str:
    rows = []
    for name in LIGHTS:
        light = data["lights"][name]
        colour = COLOURS.get(light["light"], "#555")
        rows.append(
            f'<tr><th scope="row">{html.escape(name)}</th>'
            f'<td style="color:{colour};font-weight:bold">\u25cf {html.escape(light["light"])}</td>'
            f"<td>{html.escape(light['message'])}</td></tr>"
        )
    run = data.get("last_run") or {}
    last = (
        f"{html.escape(str(run.get('started_at')))} to {html.escape(str(run.get('finished_at')))}: "
        f"{html.escape(str(run.get('outcome')))}"
        if run
        else "never"
    )
    log_text = html.escape("\n".join(data.get("log", [])))
    return (
        "<!doctype html><html lang=en><head><meta charset=utf-8>"
        '<meta http-equiv="refresh" content="15"><title>rollsync agent</title>'
        "<style>body{font-family:sans-serif;margin:2em}td,th{padding:.3em 1em;text-align:left}"
        "pre{background:#f4f4f4;padding:1em;overflow:auto}</style></head><body>"
        "<h1>rollsync agent</h1><table>"
        + "".join(rows)
        + f"</table><p>Last run: {last}. Queued extracts: {int(data.get('queued') or 0)}.</p>"
        f"<h2>Last log lines</h2><pre>{log_text}</pre></body></html>"
    )


def serve(home: Path, host: str, port: int) -> None:
    if host not in ALLOWED_HOSTS:
        raise ValueError(
            f"the status page listens on 127.0.0.1 only, not {host}: it is for this machine"
        )
    REDACT.add(*(SecretStore(home).get(n) for n in ("licence_key", "sims_password")))

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            data = snapshot(home)
            path = self.path.split("?", 1)[0]
            if path == "/status.json":
                body, kind = json.dumps(data, indent=2).encode(), "application/json"
            elif path == "/":
                body, kind = page(data).encode("utf-8"), "text/html; charset=utf-8"
            else:
                self.send_error(404)
                return
            self.send_response(200)
            self.send_header("Content-Type", kind)
            self.send_header("Content-Length", str(len(body)))
            self.send_header("Cache-Control", "no-store")
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, format: str, *args: Any) -> None:
            pass

    httpd = ThreadingHTTPServer(("127.0.0.1", port), Handler)
    print(f"status page on http://127.0.0.1:{httpd.server_address[1]}/ (Ctrl+C stops it)")
    sys.stdout.flush()
    try:
        httpd.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        httpd.server_close()
