"""The agent's home folder: where config, secrets, queue, log, definitions and status live."""

from __future__ import annotations

import json
import os
import sys
import tempfile
from pathlib import Path
from typing import Any

ENV_HOME = "ROLLSYNC_AGENT_HOME"


def default_home(platform: str | None = None) -> Path:
    plat = platform or ("windows" if sys.platform.startswith("win") else "posix")
    if plat == "windows":
        base = os.environ.get("PROGRAMDATA") or r"C:\ProgramData"
        return Path(base) / "rollsync-agent"
    if hasattr(os, "geteuid") and os.geteuid() == 0:
        return Path("/var/lib/rollsync-agent")
    return Path.home() / ".config" / "rollsync-agent"


def resolve_home(given: str | None) -> Path:
    raw = given or os.environ.get(ENV_HOME)
    home = Path(raw).expanduser() if raw else default_home()
    return home.absolute()


def ensure_dir(path: Path) -> Path:
    """A folder only this account can read (0700; Windows ignores the bits)."""
    path.mkdir(mode=0o700, parents=True, exist_ok=True)
    if os.name != "nt":
        os.chmod(path, 0o700)
    return path


def write_atomic(path: Path, data: bytes, mode: int = 0o600) -> None:
    """Write beside the target, fsync, then rename: a reader sees the old file or the new one,
    never half of one."""
    ensure_dir(path.parent)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=str(path.parent))
    try:
        if os.name != "nt":
            os.fchmod(fd, mode)
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise


def write_json(path: Path, value: Any) -> None:
    write_atomic(path, (json.dumps(value, indent=2, sort_keys=True) + "\n").encode("utf-8"))


def read_json(path: Path, default: Any = None) -> Any:
    try:
        return json.loads(path.read_text("utf-8"))
    except FileNotFoundError:
        return default
