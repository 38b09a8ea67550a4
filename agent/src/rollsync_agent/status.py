"""The four lights (configuration, extract, filter, upload), kept in `status.json`.

Red: a major problem. Yellow: processing / in progress, or done with a warning. Green: OK."""

from __future__ import annotations

from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from rollsync_agent.home import read_json, write_json

STATUS_FILE = "status.json"
LIGHTS = ("configuration", "extract", "filter", "upload")
COLOURS = ("green", "yellow", "red")


def now() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="seconds")


class Status:
    def __init__(self, home: Path) -> None:
        self.home = home
        raw = read_json(home / STATUS_FILE, {}) or {}
        found = raw.get("lights")
        lights: dict[str, Any] = found if isinstance(found, dict) else {}
        self.lights: dict[str, dict[str, str]] = {
            name: dict(lights.get(name) or {"light": "red", "message": "never run"})
            for name in LIGHTS
        }
        self.last_run: dict[str, Any] = dict(raw.get("last_run") or {})
        self.queued: int = int(raw.get("queued") or 0)
        self.running: set[str] = set()

    def set(self, name: str, light: str, message: str, *, running: bool = False) -> None:
        """`running`: yellow for a step in progress; a run that stops before the step ends
        turns it red (`stopped`)."""
        assert name in LIGHTS and light in COLOURS, (name, light)
        self.lights[name] = {"light": light, "message": message}
        if running:
            self.running.add(name)
        else:
            self.running.discard(name)
        self.save()

    def stopped(self, why: str) -> None:
        for name in sorted(self.running):
            self.set(name, "red", f"not done: {why}")

    def light(self, name: str) -> str:
        return self.lights[name]["light"]

    @property
    def ok(self) -> bool:
        return all(v["light"] != "red" for v in self.lights.values())

    def as_dict(self) -> dict[str, Any]:
        return {"lights": self.lights, "last_run": self.last_run, "queued": self.queued}

    def save(self) -> None:
        write_json(self.home / STATUS_FILE, {**self.as_dict(), "updated_at": now()})


ANSI = {"green": "\033[32m", "yellow": "\033[33m", "red": "\033[31m"}
RESET = "\033[0m"


def render(status: Status, log_lines: list[str], *, colour: bool) -> str:
    out = []
    for name in LIGHTS:
        light = status.lights[name]["light"]
        word = f"{light:<6}"
        if colour:
            word = f"{ANSI.get(light, '')}\u25cf {light:<6}{RESET}"
        out.append(f"{name:<14} {word}  {status.lights[name]['message']}")
    run = status.last_run
    if run:
        out.append(
            f"last run: {run.get('started_at', '?')} to {run.get('finished_at', '?')}: "
            f"{run.get('outcome', '?')}"
        )
    out.append(f"queued extracts: {status.queued}")
    if log_lines:
        out.append("")
        out.append("last log lines:")
        out.extend(f"  {line}" for line in log_lines)
    return "\n".join(out)
