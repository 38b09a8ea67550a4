"""What both tenant simulators share: a request quota over a sliding window, and the
ids and paging they hand out."""

from __future__ import annotations

import itertools
import threading
import time
from collections import deque
from collections.abc import Sequence
from typing import Any, TypeVar

T = TypeVar("T")


class Quota:
    """At most `limit` requests in any `window` seconds; `None` limit: no quota."""

    def __init__(self, limit: int | None, window: float = 60.0) -> None:
        self.limit = limit
        self.window = window
        self.refused = 0
        self._seen: deque[float] = deque()
        self._lock = threading.Lock()

    def allow(self) -> bool:
        if self.limit is None:
            return True
        with self._lock:
            now = time.monotonic()
            while self._seen and now - self._seen[0] >= self.window:
                self._seen.popleft()
            if len(self._seen) >= self.limit:
                self.refused += 1
                return False
            self._seen.append(now)
            return True


class Ids:
    def __init__(self, start: int = 100_000) -> None:
        self._next = itertools.count(start)

    def new(self, prefix: str = "") -> str:
        return f"{prefix}{next(self._next)}"


def page(items: Sequence[T], token: str | None, size: int) -> tuple[list[T], str | None]:
    """One page from `token` (an offset the simulator handed out) and the next token."""
    try:
        start = max(0, int(token or 0))
    except ValueError:
        start = -1
    if start < 0:
        raise ValueError("bad page token")
    chunk = list(items[start : start + size])
    more = start + size < len(items)
    return chunk, (str(start + size) if more else None)


def as_dict(value: Any) -> dict[str, Any]:
    return value if isinstance(value, dict) else {}


def allow_patch(server: Any) -> None:
    """The MIS simulators' handler serves GET, POST, PUT and DELETE; both tenant APIs
    also take PATCH, served the same way."""
    base = server._httpd.RequestHandlerClass
    server._httpd.RequestHandlerClass = type("PatchHandler", (base,), {"do_PATCH": base._serve})
