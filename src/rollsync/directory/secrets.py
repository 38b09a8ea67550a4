"""Connection secrets at rest: encrypted with Fernet (cryptography; docs/decisions/
0064-secrets-fernet.md) under a key that is never in the database.

The keys come from ROLLSYNC_CONNECTION_KEYS (comma-separated Fernet keys: the first
encrypts, every one decrypts, so a key is replaced by putting the new one first and
running `rollsync mis rekey`), or else from the file ROLLSYNC_CONNECTION_KEY_FILE
(default var/connection-keys under ROLLSYNC_HOME, one key a line), made with a fresh key
and mode 0600 the first time it is needed, for a single-host install and the demo.
A secret is decrypted only to make one call to the MIS, and never logged or shown.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

from cryptography.fernet import Fernet, InvalidToken, MultiFernet
from django.conf import settings


class SecretsUnreadable(Exception):
    """The stored secrets cannot be decrypted with the keys this install has."""


def _key_file() -> Path:
    named = os.environ.get("ROLLSYNC_CONNECTION_KEY_FILE")
    return Path(named) if named else Path(settings.BASE_DIR) / "var" / "connection-keys"


def _keys() -> list[bytes]:
    named = os.environ.get("ROLLSYNC_CONNECTION_KEYS", "").strip()
    if named:
        return [k.strip().encode() for k in named.split(",") if k.strip()]
    path = _key_file()
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "wb") as f:
            f.write(Fernet.generate_key() + b"\n")
    return [line.strip() for line in path.read_bytes().splitlines() if line.strip()]


def _fernet() -> MultiFernet:
    try:
        return MultiFernet([Fernet(k) for k in _keys()])
    except (ValueError, TypeError):
        raise SecretsUnreadable(
            "ROLLSYNC_CONNECTION_KEYS (or the key file) does not hold valid Fernet keys"
        ) from None


def seal(values: dict[str, str]) -> bytes:
    """The secrets, encrypted; b"" when there are none."""
    if not values:
        return b""
    return _fernet().encrypt(json.dumps(values, sort_keys=True).encode("utf-8"))


def unseal(token: bytes | memoryview) -> dict[str, str]:
    data = bytes(token)
    if not data:
        return {}
    try:
        plain = _fernet().decrypt(data)
    except InvalidToken:
        raise SecretsUnreadable(
            "the connection's secrets cannot be decrypted with this install's keys "
            "(ROLLSYNC_CONNECTION_KEYS): enter them again"
        ) from None
    values = json.loads(plain)
    return {str(k): str(v) for k, v in values.items()}


def reseal(token: bytes | memoryview) -> bytes:
    """The same secrets under the first (newest) key."""
    data = bytes(token)
    return _fernet().rotate(data) if data else b""
