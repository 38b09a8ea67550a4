"""Running SIMS's CommandReportImporter and CommandReporter."""

from __future__ import annotations

import os
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

from rollsync_agent.config import Config
from rollsync_agent.extract import ExtractError, plain_sims_error, sims_error
from rollsync_agent.logs import log

ENV_TIMEOUT = "ROLLSYNC_AGENT_EXTRACT_TIMEOUT"
IMPORTED = "Report Definition Successfully Imported"


def extract_timeout() -> float:
    raw = os.environ.get(ENV_TIMEOUT, "1800")
    try:
        return max(1.0, float(raw))
    except ValueError:
        raise ExtractError(f"{ENV_TIMEOUT}={raw!r} is not a number of seconds") from None


@dataclass
class Done:
    code: int
    stdout: bytes
    stderr: bytes


def _quoted(value: str) -> str:
    return f'"{value}"'


def _win_arg(arg: str) -> str:
    """`/NAME:value` with the value quoted when it holds a space (a password, a path)."""
    name, sep, value = arg.partition(":")
    if sep and any(c.isspace() for c in value) and not value.startswith('"'):
        return f'{name}:"{value}"'
    return arg


def _run(exe: str, args: list[str], shown: list[str]) -> Done:
    log.info("running %s %s", exe, " ".join(shown))
    timeout = extract_timeout()
    if sys.platform.startswith("win"):
        # CommandReporter reads its own command line: pass it as written, quotes included.
        cmd: str | list[str] = " ".join([_quoted(exe), *(_win_arg(a) for a in args)])
    else:
        cmd = [exe, *args]
    try:
        done = subprocess.run(
            cmd, capture_output=True, timeout=timeout, stdin=subprocess.DEVNULL, check=False
        )
    except subprocess.TimeoutExpired:
        raise ExtractError(f"{Path(exe).name} did not finish within {timeout:g} s") from None
    except OSError as exc:
        raise ExtractError(f"{exe} could not be started: {exc.strerror or exc}") from None
    return Done(done.returncode, done.stdout or b"", done.stderr or b"")


def _last_line(data: bytes) -> str:
    lines = [x.strip() for x in data.decode("utf-8", "replace").splitlines() if x.strip()]
    return lines[-1] if lines else "nothing on stderr"


def import_definition(
    cfg: Config, importer: str, password: str | None, report: str, path: Path
) -> None:
    args = [*cfg.auth_switches(password), f"/REPORT:{_quoted(str(path))}"]
    shown = [*cfg.auth_switches(password, masked=True), f"/REPORT:{_quoted(str(path))}"]
    done = _run(importer, args, shown)
    out = done.stdout.decode("utf-8", "replace")
    if IMPORTED in out:
        return
    message = sims_error(done.stdout)
    if message is not None:
        said = plain_sims_error(message)
    else:
        said = " ".join(out.split()) or f"exit code {done.code}, {_last_line(done.stderr)}"
    raise ExtractError(f"{report}: SIMS did not import the report definition: {said}")


def run_report(cfg: Config, password: str | None, report: str, name: str, output: Path) -> bytes:
    """The report's bytes, or ExtractError in plain words."""
    if output.exists():
        output.unlink()
    tail = [f"/REPORT:{_quoted(name)}", f"/OUTPUT:{_quoted(str(output))}", "/QUIET"]
    done = _run(
        cfg.command_reporter,
        [*cfg.auth_switches(password), *tail],
        [*cfg.auth_switches(password, masked=True), *tail],
    )
    written = output.read_bytes() if output.is_file() else b""
    for text in (done.stdout, written[:65536]):
        message = sims_error(text)
        if message is not None:
            raise ExtractError(f"{report}: {plain_sims_error(message)}")
    if done.code != 0:
        raise ExtractError(
            f"{report}: CommandReporter stopped with exit code {done.code}: "
            f"{_last_line(done.stderr)}"
        )
    data = written if written.strip() else done.stdout
    if not data.strip():
        raise ExtractError(f"{report}: SIMS wrote nothing (no output, exit code 0)")
    return data
