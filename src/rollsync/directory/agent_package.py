"""The rollsync agent's package, as AutoUpdate Settings offers it for download: an
sdist-like `rollsync-agent-<version>.tar.gz` of the repository's `agent/` folder
(`settings.ROLLSYNC_AGENT_SOURCE`), which `pip install` takes as it is: one top folder
`rollsync-agent-<version>/` holding its pyproject.toml. Caches, virtual environments and
build leftovers are left out. Built the same way every time (fixed times and owners), so
the same source gives the same bytes."""

from __future__ import annotations

import gzip
import io
import tarfile
import tomllib
from dataclasses import dataclass
from pathlib import Path

NAME = "rollsync-agent"
_LEFT_OUT_DIRS = frozenset(
    {
        "__pycache__",
        ".venv",
        "venv",
        ".git",
        ".mypy_cache",
        ".pytest_cache",
        ".ruff_cache",
        ".tox",
        ".nox",
        "build",
        "dist",
        "htmlcov",
    }
)
_LEFT_OUT_SUFFIXES = (".pyc", ".pyo", ".egg-info")


@dataclass(frozen=True, slots=True)
class AgentPackage:
    version: str
    filename: str  # "rollsync-agent-0.1.0.tar.gz"
    data: bytes


def package_version(source: Path) -> str | None:
    """The agent's version from its pyproject.toml, or None when there is no agent source
    there (then no package can be offered)."""
    try:
        project = tomllib.loads((source / "pyproject.toml").read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    version = project.get("project", {}).get("version")
    return str(version) if version else None


def _kept(path: Path, source: Path) -> bool:
    parts = path.relative_to(source).parts
    if any(p in _LEFT_OUT_DIRS or p.endswith(_LEFT_OUT_SUFFIXES) for p in parts):
        return False
    return not path.is_symlink()


def build_package(source: Path) -> AgentPackage | None:
    """The package of the agent at `source`, or None when there is none."""
    version = package_version(source)
    if version is None:
        return None
    top = f"{NAME}-{version}"
    raw = io.BytesIO()
    with tarfile.open(fileobj=raw, mode="w", format=tarfile.PAX_FORMAT) as tar:
        for path in sorted(p for p in source.rglob("*") if _kept(p, source)):
            name = f"{top}/{path.relative_to(source).as_posix()}"
            info = tarfile.TarInfo(name)
            info.mtime = 0
            info.uid = info.gid = 0
            info.uname = info.gname = ""
            if path.is_dir():
                info.type = tarfile.DIRTYPE
                info.mode = 0o755
                tar.addfile(info)
            elif path.is_file():
                data = path.read_bytes()
                info.size = len(data)
                info.mode = 0o755 if path.stat().st_mode & 0o111 else 0o644
                tar.addfile(info, io.BytesIO(data))
    packed = gzip.compress(raw.getvalue(), mtime=0)
    return AgentPackage(version=version, filename=f"{top}.tar.gz", data=packed)
