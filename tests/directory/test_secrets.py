"""Connection secrets at rest (directory/secrets.py): sealed under keys from outside the
database, rotated by putting a new key first, unreadable under a stranger's key."""

from __future__ import annotations

import os
import stat
from pathlib import Path

import pytest
from cryptography.fernet import Fernet

from rollsync.directory.secrets import SecretsUnreadable, reseal, seal, unseal


def test_seal_and_unseal(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ROLLSYNC_CONNECTION_KEYS", Fernet.generate_key().decode())
    token = seal({"client_secret": "s3cret-value"})
    assert b"s3cret-value" not in token
    assert unseal(token) == {"client_secret": "s3cret-value"}
    assert seal({}) == b"" and unseal(b"") == {}


def test_rotation_keeps_old_secrets_readable(monkeypatch: pytest.MonkeyPatch) -> None:
    old, new = Fernet.generate_key().decode(), Fernet.generate_key().decode()
    monkeypatch.setenv("ROLLSYNC_CONNECTION_KEYS", old)
    token = seal({"password": "p"})
    monkeypatch.setenv("ROLLSYNC_CONNECTION_KEYS", f"{new},{old}")
    assert unseal(token) == {"password": "p"}
    rotated = reseal(token)
    monkeypatch.setenv("ROLLSYNC_CONNECTION_KEYS", new)
    assert unseal(rotated) == {"password": "p"}
    with pytest.raises(SecretsUnreadable):
        unseal(token)


def test_bad_keys_are_named(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ROLLSYNC_CONNECTION_KEYS", "not-a-key")
    with pytest.raises(SecretsUnreadable, match="ROLLSYNC_CONNECTION_KEYS"):
        seal({"token": "t"})


def test_a_key_file_is_made_once_private(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.delenv("ROLLSYNC_CONNECTION_KEYS", raising=False)
    key_file = tmp_path / "var" / "keys"
    monkeypatch.setenv("ROLLSYNC_CONNECTION_KEY_FILE", str(key_file))
    token = seal({"token": "t"})
    assert stat.S_IMODE(os.stat(key_file).st_mode) == 0o600
    first = key_file.read_bytes()
    assert unseal(token) == {"token": "t"}
    assert key_file.read_bytes() == first
