"""Sending one delivery: Standard Webhooks headers signed with the `standardwebhooks`
package (docs/decisions/0072-standard-webhooks.md), one POST with httpx, and what the
answer means. No database here."""

from __future__ import annotations

import base64
import secrets
from dataclasses import dataclass
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import httpx

# httpx and standardwebhooks are imported where a delivery is signed and sent: every
# process loads this module (the outbox hears every audit event), few of them send.

SECRET_PREFIX = "whsec_"
USER_AGENT = "rollsync-webhooks/1"
# How much of an answer is read (kept in the log); the rest is never fetched.
ANSWER_BYTES = 512


def new_secret() -> str:
    """A fresh signing secret: 32 random bytes, base64, with the `whsec_` prefix."""
    return SECRET_PREFIX + base64.b64encode(secrets.token_bytes(32)).decode("ascii")


def check_secret(secret: str) -> None:
    """ValueError unless `secret` is a `whsec_` secret: base64 of 24 to 64 bytes."""
    if not secret.startswith(SECRET_PREFIX):
        raise ValueError("it does not start with whsec_")
    try:
        key = base64.b64decode(secret[len(SECRET_PREFIX) :], validate=True)
    except ValueError:
        raise ValueError("what follows whsec_ is not base64") from None
    if not 24 <= len(key) <= 64:
        raise ValueError(f"it holds {len(key)} bytes, not 24 to 64")


def signed_headers(*, keys: list[str], msg_id: str, body: str, at: datetime) -> dict[str, str]:
    """The three Standard Webhooks headers. Every key signs (after a rotation, the new
    secret and the previous one), space-separated, so a receiver holding either verifies."""
    from standardwebhooks.webhooks import Webhook

    at = at.astimezone(UTC)
    signatures = " ".join(Webhook(key).sign(msg_id=msg_id, timestamp=at, data=body) for key in keys)
    return {
        "webhook-id": msg_id,
        "webhook-timestamp": str(int(at.timestamp())),
        "webhook-signature": signatures,
        "content-type": "application/json",
        "user-agent": USER_AGENT,
    }


@dataclass(frozen=True, slots=True)
class Answer:
    """What one POST came to."""

    status: int | None  # the HTTP status, or None when there was no answer
    error: str  # why it failed, in an operator's words ("" on success)
    retry_after: float | None = None  # seconds the endpoint asked us to wait (429/503)

    @property
    def ok(self) -> bool:
        return self.status is not None and 200 <= self.status < 300

    @property
    def gone(self) -> bool:
        return self.status == 410


def post(client: httpx.Client, url: str, *, headers: dict[str, str], body: str) -> Answer:
    """POST the body; never follows a redirect (a 3xx is a failure, as the standard says)."""
    import httpx

    try:
        with client.stream("POST", url, content=body.encode("utf-8"), headers=headers) as resp:
            text = _read_some(resp)
            status = resp.status_code
            retry_after = _retry_after(resp.headers.get("retry-after"))
    except httpx.TimeoutException:
        return Answer(None, "no answer in time (timeout)")
    except httpx.HTTPError as exc:
        return Answer(None, f"could not reach the endpoint: {type(exc).__name__}")
    if 200 <= status < 300:
        return Answer(status, "")
    reason = f"answered {status}"
    if text:
        reason += f": {text}"
    return Answer(status, reason, retry_after if status in (429, 503) else None)


def _read_some(resp: httpx.Response) -> str:
    got = b""
    for chunk in resp.iter_bytes():
        got += chunk
        if len(got) >= ANSWER_BYTES:
            break
    return got[:ANSWER_BYTES].decode("utf-8", "replace").strip()


def _retry_after(value: str | None) -> float | None:
    """Retry-After in seconds (a number, or an HTTP date), or None when absent or unreadable."""
    if not value:
        return None
    value = value.strip()
    if value.isdigit():
        return float(value)
    try:
        when = parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return max(0.0, (when - datetime.now(UTC)).total_seconds())
