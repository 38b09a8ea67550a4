"""The HTTP client for tenants: httpx with retries by stamina, like the MIS client
(rollsync.connectors.http, whose URL rule and retry policy it reuses), but shaped for
writing: every answer that is not a transient one is handed back, so one refused record
is reported and the run goes on.

Transient, retried with exponential backoff and jitter (Retry-After obeyed, within the
policy's cap): 429, 500, 502, 503, 504, a network failure, and whatever the vendor's
`throttled(response)` says (Google's 403 userRateLimitExceeded). `Pace` keeps the
client itself under a quota (Google's 2,400 queries a minute) so it need not be told.
"""

from __future__ import annotations

import time
from collections import deque
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

import httpx
import stamina

from rollsync.connectors.http import RetryPolicy, _retry_after

from .errors import TenantUnavailable

_TRANSIENT = frozenset({429, 500, 502, 503, 504})


@dataclass(frozen=True, slots=True)
class Pace:
    """At most `limit` requests in any `window` seconds."""

    limit: int
    window: float = 60.0


class _Retry(Exception):
    def __init__(self, why: str, retry_after: float | None = None) -> None:
        super().__init__(why)
        self.why = why
        self.retry_after = retry_after


class TenantHttp:
    def __init__(
        self,
        *,
        vendor: str,
        policy: RetryPolicy | None = None,
        pace: Pace | None = None,
        throttled: Callable[[httpx.Response], bool] | None = None,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self.vendor = vendor
        self.policy = policy or RetryPolicy.from_env()
        self.pace = pace
        self.requests_made = 0  # tries, retries included
        self.throttled = 0  # answers that said "slow down"
        self._throttled = throttled or (lambda r: False)
        self._sent: deque[float] = deque()
        self._sleep = sleep
        self._client = httpx.Client(
            headers={"Accept": "application/json", "User-Agent": "rollsync"},
            timeout=httpx.Timeout(self.policy.timeout),
            verify=True,
            follow_redirects=False,
        )

    def close(self) -> None:
        self._client.close()

    def __enter__(self) -> TenantHttp:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def request(
        self,
        method: str,
        url: str,
        *,
        params: Mapping[str, str] | None = None,
        json: Any = None,
        data: Mapping[str, str] | None = None,
        headers: Mapping[str, str] | None = None,
        content: bytes | None = None,
    ) -> httpx.Response:
        shown = f"{method} {httpx.URL(url).path}"
        try:
            for attempt in stamina.retry_context(
                on=self._backoff,
                attempts=self.policy.attempts,
                timeout=self.policy.total,
                wait_initial=self.policy.wait_initial,
                wait_max=self.policy.wait_max,
            ):
                with attempt:
                    return self._once(
                        method,
                        url,
                        shown=shown,
                        params=params,
                        json=json,
                        data=data,
                        headers=headers,
                        content=content,
                    )
        except _Retry as gave_up:
            raise TenantUnavailable(
                f"{self.vendor} did not answer {shown} after {self.policy.attempts} tries: "
                f"{gave_up.why}; the next run takes up where this one stopped"
            ) from None
        raise AssertionError("unreachable")  # pragma: no cover

    def _backoff(self, exc: Exception) -> bool | float:
        if not isinstance(exc, _Retry):
            return False
        if exc.retry_after:  # Retry-After: 0 says nothing: back off as usual
            return min(exc.retry_after, self.policy.wait_max)
        return True

    def _wait_for_pace(self) -> None:
        if self.pace is None:
            return
        now = time.monotonic()
        while self._sent and now - self._sent[0] >= self.pace.window:
            self._sent.popleft()
        if len(self._sent) >= self.pace.limit:
            self._sleep(max(0.0, self._sent[0] + self.pace.window - now))
            self._sent.popleft()
        self._sent.append(time.monotonic())

    def _once(self, method: str, url: str, *, shown: str, **kwargs: Any) -> httpx.Response:
        self._wait_for_pace()
        self.requests_made += 1
        try:
            response = self._client.request(
                method, url, **{k: v for k, v in kwargs.items() if v is not None}
            )
        except httpx.TimeoutException:
            raise _Retry(f"{shown} timed out") from None
        except httpx.TransportError as exc:
            raise _Retry(f"the connection failed ({type(exc).__name__})") from None
        if response.status_code in _TRANSIENT or self._throttled(response):
            if response.status_code in (403, 429, 503):
                self.throttled += 1
            raise _Retry(f"{response.status_code} to {shown}", _retry_after(response))
        return response
