"""The agent's log: a rotating file in the home, and the same lines on stderr."""

from __future__ import annotations

import logging
import sys
from collections import deque
from logging.handlers import RotatingFileHandler
from pathlib import Path

from rollsync_agent.redact import REDACT, RedactingFilter

LOG_NAME = "agent.log"
log = logging.getLogger("rollsync_agent")


def setup(home: Path, *, quiet: bool = False) -> None:
    log.setLevel(logging.INFO)
    for handler in list(log.handlers):
        log.removeHandler(handler)
        handler.close()
    log.propagate = False
    redacting = RedactingFilter()
    file_handler = RotatingFileHandler(
        str(home / LOG_NAME), maxBytes=1_000_000, backupCount=5, encoding="utf-8"
    )
    file_handler.setFormatter(
        logging.Formatter("%(asctime)s %(levelname)s %(message)s", "%Y-%m-%dT%H:%M:%S%z")
    )
    file_handler.addFilter(redacting)
    log.addHandler(file_handler)
    if not quiet:
        console = logging.StreamHandler(sys.stderr)
        console.setFormatter(logging.Formatter("%(message)s"))
        console.addFilter(redacting)
        log.addHandler(console)


def tail(home: Path, n: int = 50) -> list[str]:
    """The last `n` lines of the log, redacted again with the secrets known now."""
    try:
        with open(home / LOG_NAME, encoding="utf-8", errors="replace") as fh:
            last = deque(fh, maxlen=n)
    except FileNotFoundError:
        return []
    return REDACT.lines(line.rstrip("\n") for line in last)
