"""Every HTTP exchange with the rollsync server (docs/agent.md, "The agent protocol")."""

from __future__ import annotations

import os
import platform
import ssl
from typing import Any
from urllib.parse import urlsplit

import certifi
import httpx

from rollsync_agent import __version__
from rollsync_agent.config import ConfigError

ENV_CA_BUNDLE = "ROLLSYNC_AGENT_CA_BUNDLE"
BASE_PATH = "/agent/v1/"
DEFAULT_CHUNK = 262144


class ServerUnreachable(Exception):
    """No answer: the connection failed, timed out or was cut."""


class ServerError(Exception):
    """An answer that refuses: the status, the protocol's `error` and its message."""

    def __init__(self, status: int, error: str, message: str, body: dict[str, Any]) -> None:
        super().__init__(f"{status} {error}: {message}")
        self.status = status
        self.error = error
        self.message = message
        self.body = body

    @property
    def transient(self) -> bool:
        return self.status >= 500


def tls_context() -> ssl.SSLContext:
    """certifi's roots (as httpx by default), plus a school's own CA bundle when the
    environment names one; never below TLS 1.2."""
    ctx = ssl.create_default_context(cafile=certifi.where())
    for env in (ENV_CA_BUNDLE, "SSL_CERT_FILE"):
        extra = os.environ.get(env)
        if extra:
            try:
                ctx.load_verify_locations(cafile=extra)
            except (OSError, ssl.SSLError) as exc:
                raise ConfigError(
                    f"{env}={extra}: not a readable file of CA certificates ({exc})"
                ) from None
    ctx.minimum_version = ssl.TLSVersion.TLSv1_2
    return ctx


def user_agent() -> str:
    return f"rollsync-agent/{__version__} ({platform.system()}; Python {platform.python_version()})"


class Server:
    """A small client for the agent endpoints; the base URL already passed the URL rule."""

    def __init__(self, base_url: str, licence_key: str, *, timeout: float = 60.0) -> None:
        self.base_url = base_url.rstrip("/")
        self.host = urlsplit(self.base_url).hostname or self.base_url
        self.tls = self.base_url.lower().startswith("https://")
        self._client = httpx.Client(
            base_url=self.base_url + BASE_PATH,
            headers={"Authorization": f"Bearer {licence_key}", "User-Agent": user_agent()},
            timeout=httpx.Timeout(timeout, connect=15.0),
            verify=tls_context(),
            follow_redirects=False,
            trust_env=False,
        )

    def close(self) -> None:
        self._client.close()

    def __enter__(self) -> Server:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # --- the endpoints -----------------------------------------------------------------

    def hello(self) -> dict[str, Any]:
        return self._json("GET", "hello")[1]

    def reports(self) -> dict[str, Any]:
        return self._json("GET", "reports")[1]

    def upload_begin(self, meta: dict[str, Any]) -> dict[str, Any]:
        return self._json("POST", "uploads", json=meta)[1]

    def upload_chunk(self, upload_id: str, offset: int, data: bytes) -> dict[str, Any]:
        return self._json(
            "PATCH",
            f"uploads/{upload_id}",
            content=data,
            headers={
                "Upload-Offset": str(offset),
                "Content-Type": "application/offset+octet-stream",
            },
        )[1]

    def upload_state(self, upload_id: str) -> dict[str, Any]:
        return self._json("GET", f"uploads/{upload_id}")[1]

    def status(self, payload: dict[str, Any]) -> None:
        self._json("POST", "status", json=payload)

    # --- one exchange ------------------------------------------------------------------

    def _json(
        self,
        method: str,
        path: str,
        *,
        json: dict[str, Any] | None = None,
        content: bytes | None = None,
        headers: dict[str, str] | None = None,
    ) -> tuple[int, dict[str, Any]]:
        try:
            resp = self._client.request(method, path, json=json, content=content, headers=headers)
        except httpx.TransportError as exc:
            why = str(exc) or type(exc).__name__
            raise ServerUnreachable(f"could not reach {self.host}: {why}") from None
        if resp.status_code == 204:
            return 204, {}
        try:
            body = resp.json()
        except ValueError:
            body = None
        if not isinstance(body, dict):
            if resp.status_code >= 500:
                raise ServerError(resp.status_code, "server_error", resp.reason_phrase, {})
            raise ServerError(
                resp.status_code,
                "not_json",
                f"{self.host} answered {resp.status_code} with something that is not rollsync's"
                " JSON (is the URL right?)",
                {},
            )
        if resp.status_code >= 300:
            raise ServerError(
                resp.status_code,
                str(body.get("error") or "error"),
                str(body.get("message") or resp.reason_phrase),
                body,
            )
        return resp.status_code, body
