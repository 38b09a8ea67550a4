"""`rollsync-agent schedule`: a systemd timer, a crontab line, or a Windows scheduled task."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from lxml import etree

from rollsync_agent.home import write_atomic

DAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
WIN_DAYS = ("Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday")
NAME = "rollsync-agent"
CRON_TAG = "# rollsync-agent"
ENV_SYSTEMD_DIR = "ROLLSYNC_AGENT_SYSTEMD_DIR"
TASK_NS = "http://schemas.microsoft.com/windows/2004/02/mit/task"


class ScheduleError(ValueError):
    pass


@dataclass(frozen=True)
class When:
    parts: tuple[tuple[int, int], ...]  # (first, last) day indexes; empty: every day
    hour: int
    minute: int

    @property
    def days(self) -> list[int]:
        out: list[int] = []
        for first, last in self.parts:
            out.extend(d for d in range(first, last + 1) if d not in out)
        return sorted(out) if self.parts else list(range(7))

    def on_calendar(self) -> str:
        names = [d.capitalize() for d in DAYS]
        words = ",".join(names[a] if a == b else f"{names[a]}..{names[b]}" for a, b in self.parts)
        return f"{words + ' ' if words else ''}*-*-* {self.hour:02d}:{self.minute:02d}:00"

    def cron_days(self) -> str:
        if not self.parts:
            return "*"
        # cron counts from Sunday = 0; Monday = 1 .. Saturday = 6, Sunday = 7 also accepted.
        return ",".join(str(a + 1) if a == b else f"{a + 1}-{b + 1}" for a, b in self.parts)


def parse_when(days: str, at: str) -> When:
    m = re.fullmatch(r"([01]?\d|2[0-3]):([0-5]\d)", at.strip())
    if not m:
        raise ScheduleError(f"--at {at!r} is not a time HH:MM (00:00 to 23:59)")
    text = days.strip().lower()
    parts: list[tuple[int, int]] = []
    if text not in ("daily", "every day", "*"):
        for token in text.split(","):
            first, _, last = token.strip().partition("-")
            try:
                a = DAYS.index(first.strip()[:3]) if len(first.strip()) >= 3 else -1
                b = DAYS.index(last.strip()[:3]) if last else a
            except ValueError:
                a = b = -1
            if a < 0 or b < 0 or b < a:
                raise ScheduleError(
                    f"--days {days!r}: {token.strip()!r} is not a day or a range of days "
                    "(mon-fri, mon,wed,fri or daily)"
                )
            parts.append((a, b))
    return When(tuple(parts), int(m.group(1)), int(m.group(2)))


def agent_command(home: Path) -> list[str]:
    """This agent, as the scheduler must start it."""
    argv0 = Path(sys.argv[0])
    if argv0.stem.lower() == NAME and argv0.exists():
        exe = [str(argv0.resolve())]
    else:
        found = shutil.which(NAME)
        exe = [str(Path(found).resolve())] if found else [sys.executable, "-m", "rollsync_agent"]
    return [*exe, "--home", str(home), "run"]


def _call(argv: list[str], stdin: str | None = None, check: bool = True) -> str:
    exe = shutil.which(argv[0])
    if exe is None:
        raise ScheduleError(f"{argv[0]} is not on PATH")
    done = subprocess.run(
        [exe, *argv[1:]], input=stdin, capture_output=True, text=True, check=False
    )
    if check and done.returncode != 0:
        said = (done.stderr or done.stdout).strip().splitlines()
        raise ScheduleError(
            f"{' '.join(argv)} failed (exit {done.returncode}): {said[-1] if said else ''}"
        )
    return done.stdout


# --- systemd ---------------------------------------------------------------------------


def _systemd_quote(arg: str) -> str:
    if re.fullmatch(r"[A-Za-z0-9_@%+=:,./-]+", arg):
        return arg
    return '"' + arg.replace("\\", "\\\\").replace('"', '\\"') + '"'


def systemd_dir() -> tuple[Path, bool]:
    """The unit folder, and whether these are the user's units (systemctl --user)."""
    user = not (hasattr(os, "geteuid") and os.geteuid() == 0)
    override = os.environ.get(ENV_SYSTEMD_DIR)
    if override:
        return Path(override), user
    if user:
        return Path.home() / ".config" / "systemd" / "user", True
    return Path("/etc/systemd/system"), False


def systemd_units(when: When, command: list[str]) -> tuple[str, str]:
    service = (
        "[Unit]\n"
        "Description=rollsync agent: extract the SIMS reports and upload them\n"
        "Wants=network-online.target\n"
        "After=network-online.target\n\n"
        "[Service]\n"
        "Type=oneshot\n"
        f"ExecStart={' '.join(_systemd_quote(a) for a in command)}\n"
    )
    timer = (
        "[Unit]\n"
        "Description=Run the rollsync agent on its schedule\n\n"
        "[Timer]\n"
        f"OnCalendar={when.on_calendar()}\n"
        "Persistent=true\n\n"
        "[Install]\n"
        "WantedBy=timers.target\n"
    )
    return service, timer


def schedule_systemd(when: When | None, command: list[str]) -> str:
    folder, user = systemd_dir()
    ctl = ["systemctl", *(["--user"] if user else [])]
    service, timer = folder / f"{NAME}.service", folder / f"{NAME}.timer"
    if when is None:
        _call([*ctl, "disable", "--now", f"{NAME}.timer"], check=False)
        for path in (timer, service):
            path.unlink(missing_ok=True)
        _call([*ctl, "daemon-reload"])
        return f"removed {timer} and {service}"
    text_service, text_timer = systemd_units(when, command)
    folder.mkdir(parents=True, exist_ok=True)
    write_atomic(service, text_service.encode(), mode=0o644)
    write_atomic(timer, text_timer.encode(), mode=0o644)
    _call([*ctl, "daemon-reload"])
    _call([*ctl, "enable", "--now", f"{NAME}.timer"])
    return f"wrote {service} and {timer}: OnCalendar={when.on_calendar()}"


# --- cron ------------------------------------------------------------------------------


def _shell_quote(arg: str) -> str:
    if re.fullmatch(r"[A-Za-z0-9_@%+=:,./-]+", arg):
        return arg
    return "'" + arg.replace("'", "'\\''") + "'"


def schedule_cron(when: When | None, command: list[str]) -> str:
    done = subprocess.run(
        [shutil.which("crontab") or "crontab", "-l"], capture_output=True, text=True, check=False
    )
    # `crontab -l` fails when there is no crontab yet: that is an empty one.
    current = done.stdout if done.returncode == 0 else ""
    lines = [x for x in current.splitlines() if not x.rstrip().endswith(CRON_TAG)]
    if when is not None:
        cmd = " ".join(_shell_quote(a) for a in command)
        lines.append(f"{when.minute} {when.hour} * * {when.cron_days()} {cmd} {CRON_TAG}")
    _call(["crontab", "-"], stdin="\n".join(lines) + "\n" if lines else "")
    return "removed the crontab line" if when is None else f"crontab line: {lines[-1]}"


# --- Windows ---------------------------------------------------------------------------


def task_xml(when: When, command: list[str]) -> bytes:
    def sub(parent: etree._Element, tag: str, text: str | None = None) -> etree._Element:
        el = etree.SubElement(parent, f"{{{TASK_NS}}}{tag}")
        if text is not None:
            el.text = text
        return el

    nsmap: Any = {None: TASK_NS}  # lxml takes None for the default namespace
    task = etree.Element(f"{{{TASK_NS}}}Task", nsmap=nsmap, version="1.2")
    sub(
        sub(task, "RegistrationInfo"),
        "Description",
        "rollsync agent: extract and upload SIMS reports",
    )
    trigger = sub(sub(task, "Triggers"), "CalendarTrigger")
    sub(trigger, "StartBoundary", f"2026-01-01T{when.hour:02d}:{when.minute:02d}:00")
    sub(trigger, "Enabled", "true")
    if when.parts:
        weekly = sub(trigger, "ScheduleByWeek")
        days = sub(weekly, "DaysOfWeek")
        for d in when.days:
            sub(days, WIN_DAYS[d])
        sub(weekly, "WeeksInterval", "1")
    else:
        sub(sub(trigger, "ScheduleByDay"), "DaysInterval", "1")
    principal = sub(sub(task, "Principals"), "Principal")
    principal.set("id", "Author")
    # S4U: runs whether or not the account is logged on, without storing its password.
    sub(principal, "LogonType", "S4U")
    sub(principal, "RunLevel", "LeastPrivilege")
    settings = sub(task, "Settings")
    sub(settings, "MultipleInstancesPolicy", "IgnoreNew")
    sub(settings, "StartWhenAvailable", "true")
    sub(settings, "DisallowStartIfOnBatteries", "false")
    sub(settings, "ExecutionTimeLimit", "PT4H")
    actions = sub(task, "Actions")
    actions.set("Context", "Author")
    exe = sub(actions, "Exec")
    sub(exe, "Command", command[0])
    sub(exe, "Arguments", subprocess.list2cmdline(command[1:]))
    text = etree.tostring(task, encoding="unicode", pretty_print=True)
    return ('<?xml version="1.0" encoding="UTF-16"?>\n' + text).encode("utf-16")


def schedule_windows(when: When | None, command: list[str], home: Path) -> str:
    path = home / f"{NAME}-task.xml"
    if when is None:
        _call(["schtasks", "/Delete", "/TN", NAME, "/F"])
        path.unlink(missing_ok=True)
        return f"removed the scheduled task {NAME}"
    write_atomic(path, task_xml(when, command), mode=0o644)
    _call(["schtasks", "/Create", "/TN", NAME, "/XML", str(path), "/F"])
    return f"registered the scheduled task {NAME} from {path}"


def schedule(platform: str, when: When | None, home: Path) -> str:
    command = agent_command(home)
    if platform == "windows":
        return schedule_windows(when, command, home)
    if shutil.which("systemctl"):
        return schedule_systemd(when, command)
    if shutil.which("crontab"):
        return schedule_cron(when, command)
    raise ScheduleError(
        "neither systemctl nor crontab is on PATH: schedule `rollsync-agent run` by hand"
    )
