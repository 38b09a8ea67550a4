"""Talking to an MIS over HTTP: one client for every connector (httpx, retries by stamina;
docs/decisions/0063-http-httpx-stamina.md).

What every vendor gets, so no connector handles it differently:
- the URL rule: HTTPS with the certificate verified; plain `http://` only to a loopback
  address (the simulators); no credentials, query or fragment in a base URL; a link the
  vendor hands back (a next page) is followed only on the same scheme, host and port;
- 401 is `CredentialsRefused` at once, never retried (a connector that holds a token may
  fetch a new one once, then gives up); 403 is `AccessNotGranted`;
- 429 (waiting as long as Retry-After says, within a cap), 5xx and network failures (a
  refused connection, a timeout, a connection dropped mid-answer) are retried with
  exponential backoff and jitter, a bounded number of times, then `VendorUnavailable`;
- every answer is read within `MAX_UPLOAD_BYTES` for the whole pull;
- every answer used is kept (`exchanges`), so the pull can be stored as it came and
  replayed. Request headers (where the secrets are) are never kept or logged.
"""

from __future__ import annotations

import ipaddress
import json
import logging
import os
from collections.abc import Mapping
from dataclasses import dataclass
from email.utils import parsedate_to_datetime
from typing import Any

import httpx
import stamina
import stamina.instrumentation

from rollsync.domain.limits import MAX_UPLOAD_BYTES

from .errors import AccessNotGranted, BadResponse, CredentialsRefused, UnsafeUrl, VendorUnavailable

_log = logging.getLogger("rollsync.connectors")


def _log_retry(details: stamina.instrumentation.RetryDetails) -> None:
    why = getattr(details.caused_by, "why", type(details.caused_by).__name__)
    _log.info("retry %d in %.1f s: %s", details.retry_num, details.wait_for, why)


# Retries are logged at INFO through our logger (stamina's default warns on stderr).
stamina.instrumentation.set_on_retry_hooks([_log_retry])


_REASONS = {
    429: "too many requests",
    500: "internal error",
    502: "bad gateway",
    503: "service unavailable",
    504: "gateway timeout",
}


def _env_float(name: str, default: float) -> float:
    try:
        return float(os.environ.get(name, default))
    except ValueError:
        return default


@dataclass(frozen=True, slots=True)
class RetryPolicy:
    """How hard to try before giving up on a busy or failing vendor. The defaults suit a
    nightly pull; `from_env` lets tests and operators shorten them
    (ROLLSYNC_MIS_RETRY_ATTEMPTS, ROLLSYNC_MIS_RETRY_WAIT, ROLLSYNC_MIS_RETRY_MAX_WAIT,
    ROLLSYNC_MIS_TIMEOUT)."""

    attempts: int = 5  # tries in all, the first included
    wait_initial: float = 1.0
    wait_max: float = 60.0  # also the most a Retry-After is obeyed for
    total: float = 600.0  # seconds for one request and its retries
    timeout: float = 30.0  # one try: connect, and each read

    @classmethod
    def from_env(cls) -> RetryPolicy:
        base = cls()
        return cls(
            attempts=max(1, int(_env_float("ROLLSYNC_MIS_RETRY_ATTEMPTS", base.attempts))),
            wait_initial=_env_float("ROLLSYNC_MIS_RETRY_WAIT", base.wait_initial),
            wait_max=_env_float("ROLLSYNC_MIS_RETRY_MAX_WAIT", base.wait_max),
            total=base.total,
            timeout=_env_float("ROLLSYNC_MIS_TIMEOUT", base.timeout),
        )


def check_base_url(url: str, *, field: str = "url") -> str:
    """The base URL as rollsync will call it (no trailing slash), or `UnsafeUrl`."""
    text = (url or "").strip()
    try:
        parsed = httpx.URL(text)
    except (httpx.InvalidURL, TypeError, ValueError):
        raise UnsafeUrl(f"{text!r} is not a URL", field=field) from None
    if parsed.scheme not in ("http", "https") or not parsed.host:
        raise UnsafeUrl(f"{text!r} is not an https:// URL", field=field)
    if parsed.userinfo:
        raise UnsafeUrl("the URL must not carry a user name or password", field=field)
    if parsed.query or parsed.fragment:
        raise UnsafeUrl("the URL must not carry a query or fragment", field=field)
    if parsed.scheme == "http" and not is_loopback(parsed.host):
        raise UnsafeUrl(
            f"plain http ({text}) is refused: rollsync calls an MIS over https only "
            "(plain http is for a simulator on this machine)",
            field=field,
        )
    return str(parsed).rstrip("/")


def is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


@dataclass(frozen=True, slots=True)
class Exchange:
    """One answer the pull used, as it came (headers with secrets are never kept)."""

    method: str
    url: str  # path and query, relative to the connection's base URL
    status: int
    content_type: str
    body: bytes


class _Retry(Exception):
    """A try that may succeed later: 429, 5xx, or the network."""

    def __init__(self, why: str, retry_after: float | None = None) -> None:
        super().__init__(why)
        self.why = why
        self.retry_after = retry_after


def _retry_after(response: httpx.Response) -> float | None:
    value = response.headers.get("Retry-After")
    if not value:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        when = parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    from datetime import UTC, datetime

    return max(0.0, (when - datetime.now(UTC)).total_seconds())


class VendorHttp:
    """One connection's HTTP client for one pull or check. Use as a context manager."""

    def __init__(
        self,
        base_url: str,
        *,
        vendor: str,
        policy: RetryPolicy | None = None,
        headers: Mapping[str, str] | None = None,
        auth: httpx.Auth | tuple[str, str] | None = None,
        byte_budget: int = MAX_UPLOAD_BYTES,
    ) -> None:
        self.base_url = check_base_url(base_url)
        self.vendor = vendor  # "IRIS iSAMS": for messages
        self.policy = policy or RetryPolicy.from_env()
        self.exchanges: list[Exchange] = []
        self.requests_made = 0  # tries, retries included: for tests and the status page
        self._budget = byte_budget
        self._base = httpx.URL(self.base_url + "/")
        self._client = httpx.Client(
            headers={"Accept": "application/json", "User-Agent": "rollsync", **(headers or {})},
            auth=auth,
            timeout=httpx.Timeout(self.policy.timeout),
            verify=True,
            follow_redirects=False,
        )

    def __enter__(self) -> VendorHttp:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        self._client.close()

    # -- URLs --------------------------------------------------------------------------

    def url_for(self, path_or_url: str) -> httpx.URL:
        """A path under the base URL, or a link the vendor gave (same origin only)."""
        if "://" in path_or_url:
            url = httpx.URL(path_or_url)
            if (url.scheme, url.host, url.port) != (
                self._base.scheme,
                self._base.host,
                self._base.port,
            ):
                raise BadResponse(
                    f"{self.vendor} pointed rollsync at {url.scheme}://{url.host}, "
                    f"which is not the connection's address {self.base_url}; not followed"
                )
            return url
        return httpx.URL(self.base_url + "/" + path_or_url.lstrip("/"))

    def relative(self, url: httpx.URL) -> str:
        text = str(url)
        return text[len(self.base_url) :] if text.startswith(self.base_url) else text

    # -- requests ----------------------------------------------------------------------

    def get(
        self,
        path_or_url: str,
        *,
        params: Mapping[str, Any] | None = None,
        headers: Mapping[str, str] | None = None,
        keep: bool = True,
    ) -> httpx.Response:
        return self.request("GET", path_or_url, params=params, headers=headers, keep=keep)

    def request(
        self,
        method: str,
        path_or_url: str,
        *,
        params: Mapping[str, Any] | None = None,
        data: Mapping[str, str] | None = None,
        content: bytes | None = None,
        headers: Mapping[str, str] | None = None,
        auth: httpx.Auth | tuple[str, str] | None = None,
        keep: bool = True,
    ) -> httpx.Response:
        """One request with the retry rules above; returns a 2xx answer, body read.
        `keep=False` for answers that must not be stored (a token)."""
        url = self.url_for(path_or_url)
        if params:
            url = url.copy_merge_params({k: v for k, v in params.items() if v is not None})
        shown = f"{method} {self.relative(url).split('?')[0] or '/'}"
        try:
            for attempt in stamina.retry_context(
                on=self._backoff,
                attempts=self.policy.attempts,
                timeout=self.policy.total,
                wait_initial=self.policy.wait_initial,
                wait_max=self.policy.wait_max,
            ):
                with attempt:
                    response = self._once(
                        method,
                        url,
                        data=data,
                        content=content,
                        headers=headers,
                        auth=auth,
                        shown=shown,
                    )
        except _Retry as gave_up:
            raise VendorUnavailable(
                f"{self.vendor} did not answer {shown} after {self.policy.attempts} tries: "
                f"{gave_up.why}. rollsync will try again at the next scheduled pull"
            ) from None
        if keep:
            self.exchanges.append(
                Exchange(
                    method,
                    self.relative(url),
                    response.status_code,
                    response.headers.get("Content-Type", ""),
                    response.content,
                )
            )
        return response

    def _backoff(self, exc: Exception) -> bool | float:
        if not isinstance(exc, _Retry):
            return False
        if exc.retry_after is not None:
            return min(exc.retry_after, self.policy.wait_max)
        return True

    def _once(self, method: str, url: httpx.URL, *, shown: str, **kwargs: Any) -> httpx.Response:
        self.requests_made += 1
        auth = kwargs.pop("auth")
        try:
            with self._client.stream(
                method, url, **kwargs, **({"auth": auth} if auth else {})
            ) as response:
                body = bytearray()
                for chunk in response.iter_bytes():
                    body += chunk
                    if len(body) > self._budget:
                        raise BadResponse(
                            f"{self.vendor}'s answers to this pull passed "
                            f"{MAX_UPLOAD_BYTES // (1024 * 1024)} MiB, the most rollsync takes"
                        )
        except httpx.TimeoutException:
            raise _Retry(f"{shown} timed out") from None
        except httpx.TransportError as exc:
            raise _Retry(f"the connection failed ({type(exc).__name__})") from None
        self._budget -= len(body)
        response._content = bytes(body)
        status = response.status_code
        if status == 401:
            raise CredentialsRefused(
                f"{self.vendor} refused rollsync's credentials (401 to {shown}): "
                "check them in the MIS and enter them again",
                status=401,
            )
        if status == 403:
            raise AccessNotGranted(
                f"{self.vendor} answered 403 to {shown}: {vendor_message(response) or 'access not granted'}",
                status=403,
            )
        if status == 429 or status >= 500:
            reason = _REASONS.get(status, "server error")
            raise _Retry(f"{status} ({reason}) to {shown}", _retry_after(response))
        if not 200 <= status < 300:
            detail = vendor_message(response)
            raise BadResponse(
                f"{self.vendor} answered {status} to {shown}" + (f": {detail}" if detail else ""),
                status=status,
            )
        return response

    def json(self, response: httpx.Response, *, what: str) -> Any:
        """The answer's JSON, or `BadResponse` naming `what` was asked for."""
        try:
            return json.loads(response.content)
        except (ValueError, UnicodeDecodeError):
            raise BadResponse(f"{self.vendor}'s answer to {what} is not JSON", field=what) from None


def vendor_message(response: httpx.Response) -> str:
    """The vendor's own words from an error body, short, where there are any."""
    try:
        body = json.loads(response.content)
    except (ValueError, UnicodeDecodeError):
        return ""
    found: Any = None
    if isinstance(body, dict):
        nested = body.get("response")
        inner: dict[str, Any] = nested if isinstance(nested, dict) else body
        for key in ("message", "error_description", "error", "reason", "imsx_description"):
            if isinstance(inner.get(key), str) and inner[key]:
                found = inner[key]
                break
    return found[:200] if isinstance(found, str) else ""
