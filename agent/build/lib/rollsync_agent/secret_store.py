"""The licence key and the SIMS password: in the OS keyring when it has a real backend,
else in `secrets.json` in the home (mode 0600, written atomically)."""

from __future__ import annotations

import contextlib
import json
import os
from pathlib import Path

from rollsync_agent.home import ensure_dir

ENV_KEYRING = "ROLLSYNC_AGENT_KEYRING"
SECRETS_FILE = "secrets.json"
NAMES = ("licence_key", "sims_password")


def _keyring_usable() -> bool:
    """A backend that keeps secrets safe: not the fail/null ones, nor plain text files."""
    if os.environ.get(ENV_KEYRING, "").lower() in ("off", "0", "no", "false"):
        return False
    try:
        import keyring
    except ImportError:
        return False
    backend = keyring.get_keyring()
    module = type(backend).__module__
    name = type(backend).__name__
    if module.startswith(("keyring.backends.fail", "keyring.backends.null")):
        return False
    if "plaintext" in name.lower() or module.startswith("keyrings.alt.file"):
        return False
    # Every real backend (Windows, macOS, Secret Service, KWallet) has priority >= 1; a chainer
    # with nothing to chain has 0.
    return float(getattr(backend, "priority", 0)) >= 1


class SecretStore:
    def __init__(self, home: Path, use_keyring: bool | None = None) -> None:
        self.home = home
        self.use_keyring = _keyring_usable() if use_keyring is None else use_keyring
        # One keyring entry per home, so two agents on one machine do not share a key.
        self.service = f"rollsync-agent:{home}"

    @property
    def where(self) -> str:
        return "the OS keyring" if self.use_keyring else str(self.home / SECRETS_FILE)

    def get(self, name: str) -> str | None:
        if self.use_keyring:
            import keyring

            value = keyring.get_password(self.service, name)
            return value if value else None
        data = self._read_file()
        value = data.get(name)
        return value if isinstance(value, str) and value else None

    def set(self, **values: str | None) -> None:
        given = {k: v for k, v in values.items() if v is not None}
        unknown = set(given) - set(NAMES)
        if unknown:
            raise ValueError(f"unknown secret(s): {', '.join(sorted(unknown))}")
        if self.use_keyring:
            import keyring

            for name, value in given.items():
                if value:
                    keyring.set_password(self.service, name, value)
                else:
                    with contextlib.suppress(keyring.errors.PasswordDeleteError):
                        keyring.delete_password(self.service, name)
            return
        data = self._read_file()
        for name, value in given.items():
            if value:
                data[name] = value
            else:
                data.pop(name, None)
        self._write_file(data)

    def _read_file(self) -> dict[str, str]:
        try:
            raw = json.loads((self.home / SECRETS_FILE).read_text("utf-8"))
        except FileNotFoundError:
            return {}
        return {str(k): str(v) for k, v in raw.items()} if isinstance(raw, dict) else {}

    def _write_file(self, data: dict[str, str]) -> None:
        # Created 0600 from its first byte (O_EXCL: never an existing file, never a symlink),
        # then renamed over the old one.
        ensure_dir(self.home)
        path = self.home / SECRETS_FILE
        tmp = self.home / f".{SECRETS_FILE}.{os.getpid()}.tmp"
        if tmp.exists():
            tmp.unlink()
        flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_BINARY", 0)
        fd = os.open(str(tmp), flags, 0o600)
        try:
            with os.fdopen(fd, "wb") as fh:
                fh.write(json.dumps(data, indent=2, sort_keys=True).encode("utf-8"))
                fh.flush()
                os.fsync(fh.fileno())
            os.replace(tmp, path)
        except BaseException:
            if tmp.exists():
                tmp.unlink()
            raise
