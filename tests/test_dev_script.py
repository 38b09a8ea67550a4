"""`./dev` without a command prints its usage, and only its usage."""

from __future__ import annotations

import subprocess
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def test_dev_without_a_command_prints_the_usage() -> None:
    out = subprocess.run(
        ["bash", str(ROOT / "dev")], capture_output=True, text=True, check=True
    ).stdout
    lines = out.splitlines()
    assert [line.split()[1] for line in lines] == ["demo", "test", "bench", "fuzz"]
    assert all(line.startswith("./dev ") for line in lines)
    assert "set -euo" not in out
