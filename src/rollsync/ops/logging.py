"""Structured JSON logs (python-json-logger, docs/decisions/0075). Every line carries
the ids in hand where it was written: the school (URN), the run, the upload and the
queued task. They live in context variables, set where a task or a run starts
(`bind`), so a line written deep inside a service carries them without being passed
them; each task binds afresh, so a worker process never leaks one task's ids into the
next."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from typing import Any

from pythonjsonlogger.json import JsonFormatter

KEYS = ("school", "run", "upload", "task")
_context: ContextVar[dict[str, Any] | None] = ContextVar("rollsync_log_context", default=None)


def bind(**ids: Any) -> None:
    """Set the ids every later line of this context carries (None forgets one). A key
    not in `KEYS` is refused: a typo would silently drop an id from every line."""
    unknown = set(ids) - set(KEYS)
    if unknown:
        raise ValueError(f"unknown log context key(s): {', '.join(sorted(unknown))}")
    current = dict(_context.get() or {})
    for key, value in ids.items():
        if value is None:
            current.pop(key, None)
        else:
            current[key] = value
    _context.set(current)


def clear() -> None:
    _context.set({})


def current() -> dict[str, Any]:
    return dict(_context.get() or {})


@contextmanager
def bound(**ids: Any) -> Iterator[None]:
    """The ids for the length of a block, then as they were."""
    token = _context.set(current())
    try:
        bind(**ids)
        yield
    finally:
        _context.reset(token)


class ContextFilter(logging.Filter):
    """Puts the bound ids on each record (as attributes the JSON formatter writes out)."""

    def filter(self, record: logging.LogRecord) -> bool:
        for key, value in current().items():
            if not hasattr(record, key):
                setattr(record, key, value)
        return True


class Formatter(JsonFormatter):
    """One JSON object a line: time, level, logger, message, the bound ids, any `extra`."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        kwargs.setdefault("timestamp", "time")
        kwargs.setdefault("rename_fields", {"levelname": "level", "name": "logger"})
        super().__init__("%(levelname)s %(name)s %(message)s", *args, **kwargs)
