"""`rollsync-agent schedule`: systemd units, a crontab line, a Windows scheduled task, made
and removed, with fake systemctl, crontab and schtasks on PATH that record their calls."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest
from lxml import etree
from rollsync_agent.schedule import ScheduleError, parse_when

from tests.agent.conftest import AGENT, Agent

RECORD = '#!/bin/sh\necho "$(basename "$0") $*" >> "{calls}"\n'
CRONTAB = """#!/bin/sh
echo "crontab $*" >> "{calls}"
if [ "$1" = "-l" ]; then
  [ -f "{tab}" ] || {{ echo "no crontab for user" >&2; exit 1; }}
  cat "{tab}"
elif [ "$1" = "-" ]; then
  cat > "{tab}"
fi
"""
TASK = "{http://schemas.microsoft.com/windows/2004/02/mit/task}"


def _tools(tmp_path: Path, *names: str) -> tuple[dict[str, str], Path]:
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    calls = tmp_path / "calls.txt"
    for name in names:
        script = (CRONTAB if name == "crontab" else RECORD).format(
            calls=calls, tab=tmp_path / "crontab.txt"
        )
        (bin_dir / name).write_text(script)
        (bin_dir / name).chmod(0o755)
    # Only our fakes and what they use: no real systemctl or crontab is reachable.
    for tool in ("cat", "basename"):
        found = shutil.which(tool)
        assert found is not None
        (bin_dir / tool).symlink_to(found)
    return {"PATH": str(bin_dir)}, calls


def _calls(path: Path) -> list[str]:
    return path.read_text().splitlines() if path.exists() else []


@pytest.mark.parametrize(
    ("days", "at", "calendar", "cron"),
    [
        ("mon-fri", "18:30", "Mon..Fri *-*-* 18:30:00", "30 18 * * 1-5"),
        ("mon,wed,fri", "7:05", "Mon,Wed,Fri *-*-* 07:05:00", "5 7 * * 1,3,5"),
        ("daily", "00:00", "*-*-* 00:00:00", "0 0 * * *"),
        ("sat-sun", "23:59", "Sat..Sun *-*-* 23:59:00", "59 23 * * 6-7"),
    ],
)
def test_parse_when(days: str, at: str, calendar: str, cron: str) -> None:
    when = parse_when(days, at)
    assert when.on_calendar() == calendar
    assert f"{when.minute} {when.hour} * * {when.cron_days()}" == cron


@pytest.mark.parametrize(
    ("days", "at", "words"),
    [
        ("mon-fri", "24:00", "is not a time HH:MM"),
        ("mon-fri", "18.30", "is not a time HH:MM"),
        ("fri-mon", "18:30", "'fri-mon' is not a day or a range"),
        ("weekdays", "18:30", "'weekdays' is not a day"),
    ],
)
def test_parse_when_refuses(days: str, at: str, words: str) -> None:
    with pytest.raises(ScheduleError, match=words):
        parse_when(days, at)


def test_systemd_timer_written_enabled_and_removed(agent: Agent, tmp_path: Path) -> None:
    env, calls = _tools(tmp_path, "systemctl", "crontab")
    units = tmp_path / "units"
    env["ROLLSYNC_AGENT_SYSTEMD_DIR"] = str(units)
    done = agent("schedule", "--days", "mon-fri", "--at", "18:30", "--platform", "linux", **env)
    assert done.returncode == 0, done
    user = "--user " if os.geteuid() != 0 else ""
    assert _calls(calls) == [
        f"systemctl {user}daemon-reload",
        f"systemctl {user}enable --now rollsync-agent.timer",
    ]
    timer = (units / "rollsync-agent.timer").read_text()
    assert "OnCalendar=Mon..Fri *-*-* 18:30:00\n" in timer
    assert "WantedBy=timers.target" in timer
    service = (units / "rollsync-agent.service").read_text()
    assert f"ExecStart={AGENT.resolve()} --home {agent.home} run\n" in service
    assert "Type=oneshot" in service
    calls.unlink()
    done = agent("schedule", "--remove", "--platform", "linux", **env)
    assert done.returncode == 0, done
    assert _calls(calls) == [
        f"systemctl {user}disable --now rollsync-agent.timer",
        f"systemctl {user}daemon-reload",
    ]
    assert list(units.iterdir()) == []


def test_cron_line_replaced_and_removed(agent: Agent, tmp_path: Path) -> None:
    env, calls = _tools(tmp_path, "crontab")
    tab = tmp_path / "crontab.txt"
    tab.write_text("MAILTO=office@example.org\n15 2 * * * /usr/bin/backup\n")
    for days, at in (("mon-fri", "18:30"), ("mon,wed,fri", "06:45")):
        done = agent("schedule", "--days", days, "--at", at, "--platform", "linux", **env)
        assert done.returncode == 0, done
    assert tab.read_text() == (
        "MAILTO=office@example.org\n15 2 * * * /usr/bin/backup\n"
        f"45 6 * * 1,3,5 {AGENT.resolve()} --home {agent.home} run # rollsync-agent\n"
    )
    assert _calls(calls) == ["crontab -l", "crontab -", "crontab -l", "crontab -"]
    done = agent("schedule", "--remove", "--platform", "linux", **env)
    assert done.returncode == 0, done
    assert tab.read_text() == "MAILTO=office@example.org\n15 2 * * * /usr/bin/backup\n"


def test_cron_when_there_is_no_crontab_yet(agent: Agent, tmp_path: Path) -> None:
    env, _ = _tools(tmp_path, "crontab")
    done = agent("schedule", "--days", "daily", "--at", "18:30", "--platform", "linux", **env)
    assert done.returncode == 0, done
    line = f"30 18 * * * {AGENT.resolve()} --home {agent.home} run # rollsync-agent\n"
    assert (tmp_path / "crontab.txt").read_text() == line


def test_windows_task_xml_registered_and_removed(agent: Agent, tmp_path: Path) -> None:
    env, calls = _tools(tmp_path, "schtasks")
    done = agent(
        "schedule", "--days", "mon,wed,fri", "--at", "18:30", "--platform", "windows", **env
    )
    assert done.returncode == 0, done
    xml = agent.home / "rollsync-agent-task.xml"
    assert _calls(calls) == [f"schtasks /Create /TN rollsync-agent /XML {xml} /F"]
    raw = xml.read_bytes()
    assert raw.startswith(b"\xff\xfe")  # UTF-16 with its byte order mark
    root = etree.fromstring(raw)
    trigger = root.find(f"{TASK}Triggers/{TASK}CalendarTrigger")
    assert trigger is not None
    assert trigger.findtext(f"{TASK}StartBoundary").endswith("T18:30:00")
    days = trigger.find(f"{TASK}ScheduleByWeek/{TASK}DaysOfWeek")
    assert [etree.QName(d).localname for d in days] == ["Monday", "Wednesday", "Friday"]
    assert root.findtext(f"{TASK}Actions/{TASK}Exec/{TASK}Command") == str(AGENT.resolve())
    assert root.findtext(f"{TASK}Actions/{TASK}Exec/{TASK}Arguments") == f"--home {agent.home} run"
    calls.unlink()
    done = agent("schedule", "--remove", "--platform", "windows", **env)
    assert done.returncode == 0, done
    assert _calls(calls) == ["schtasks /Delete /TN rollsync-agent /F"]
    assert not xml.exists()


def test_no_scheduler_on_path(agent: Agent, tmp_path: Path) -> None:
    env, _ = _tools(tmp_path)
    done = agent("schedule", "--platform", "linux", **env)
    assert done.returncode == 2
    assert "neither systemctl nor crontab is on PATH" in done.stderr
