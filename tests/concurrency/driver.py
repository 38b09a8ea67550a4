"""A process of the concurrency tests: `python -m tests.concurrency.driver COMMAND FILE`.

- `setup PLAN`: registers the plan's schools (GIAS file) and accepts the reports each
  school's MIS sends, as a school admin would.
- `run PLAN CHAIN...`: imports each file of the named chains, in order, through the
  `rollsync import` command (its click entry point, in this process), then prints one
  JSON line per run: the school, file, status and counts.
- `dump`: prints the directory as JSON, keyed by what does not depend on the order in
  which runs committed (see `tests.concurrency.compare`).

The database is whatever DATABASE_URL names (the test gives each process its own).
PLAN is a JSON file: {"gias": [path, ...], "schools": [{urn, la_code, estab, name, mis,
reports}], "chains": [[{urn, path, format, report, date}, ...], ...]}.
"""

from __future__ import annotations

import json
import os
import sys
import time
from datetime import date
from pathlib import Path
from typing import Any


def _setup_django() -> None:
    from rollsync.cli_support import setup_django

    setup_django()


def setup(plan: dict[str, Any]) -> None:
    _setup_django()
    from rollsync.directory.services.schools import (
        school_add,
        school_report_set,
        schools_import_gias,
    )
    from rollsync.domain.mis import can_send

    for gias in plan["gias"]:
        schools_import_gias(path=Path(gias), actor="test")
    for info in plan["schools"]:
        school = school_add(
            urn=info["urn"],
            la_code=info["la_code"],
            estab=info["estab"],
            name=info["name"],
            mis=info["mis"],
            actor="test",
        )
        for report in info["reports"]:
            if not can_send(info["mis"], report):
                continue  # as the demo does: a school accepts only what its MIS sends
            school_report_set(school=school, report=report, accepted=True, actor="test")


def run(plan: dict[str, Any], chains: list[int]) -> None:
    import io
    from contextlib import redirect_stdout

    from rollsync.cli import main

    _barrier()
    for index in chains:
        for job in plan["chains"][index]:
            args = [
                "import",
                job["path"],
                "--school",
                job["urn"],
                "--format",
                job["format"],
                "--as-of",
                job["date"],
                "--json",
            ]
            if job["format"] == "csv":
                args += ["--report", job["report"]]
            out = io.StringIO()
            code = 0
            began = time.time()
            with redirect_stdout(out):
                try:
                    main.main(args=args, prog_name="rollsync", standalone_mode=False)
                except SystemExit as exc:
                    code = int(exc.code or 0)
            summary = json.loads(out.getvalue())
            print(
                json.dumps(
                    {
                        "job": job,
                        "began": began,
                        "ended": time.time(),
                        "run": summary.get("run"),
                        "urn": job["urn"],
                        "path": job["path"],
                        "exit": code,
                        "status": summary.get("status"),
                        "counts": summary.get("counts", {}),
                        "errors": summary.get("errors", []),
                    }
                ),
                flush=True,
            )


def _stored(plan: dict[str, Any], chains: list[int]) -> Any:
    """Store the chains' files as uploads, in order; yield (job, upload)."""
    _setup_django()
    from bench.region import store_file

    for index in chains:
        for job in plan["chains"][index]:
            yield job, store_file(job)


def store(plan: dict[str, Any], chains: list[int]) -> None:
    """Store the chains' files as uploads (no run yet); print their ids, one a line."""
    for _, upload in _stored(plan, chains):
        print(upload.pk)


def queue(plan: dict[str, Any], chains: list[int]) -> None:
    """Store the chains' files and hand each to the worker, as a web upload does; print
    one JSON line per upload: {"upload", "task", "urn"}."""
    for job, upload in _stored(plan, chains):
        from rollsync.directory.services.uploads import upload_queue

        task = upload_queue(upload=upload, actor="tester", as_of=date.fromisoformat(job["date"]))
        print(json.dumps({"upload": upload.pk, "task": task, "urn": job["urn"]}), flush=True)


def _barrier() -> None:
    """With ROLLSYNC_BARRIER=DIR (the benchmark): load what an import needs, say so
    (DIR/ready-PID), and wait for DIR/go, so process start-up is not what is timed."""
    folder = os.environ.get("ROLLSYNC_BARRIER")
    if not folder:
        return
    _setup_django()
    import rollsync.directory.services.sync
    import rollsync.matching  # noqa: F401

    (Path(folder) / f"ready-{os.getpid()}").touch()
    while not (Path(folder) / "go").exists():
        time.sleep(0.005)


def dump() -> None:
    _setup_django()
    from tests.concurrency.compare import directory_dump

    json.dump(directory_dump(), sys.stdout, default=str, sort_keys=True)


if __name__ == "__main__":
    command = sys.argv[1]
    if command == "dump":
        dump()
    else:
        loaded = json.loads(Path(sys.argv[2]).read_text())
        if command == "setup":
            setup(loaded)
        elif command == "store":
            store(loaded, [int(c) for c in sys.argv[3:]])
        elif command == "queue":
            queue(loaded, [int(c) for c in sys.argv[3:]])
        else:
            run(loaded, [int(c) for c in sys.argv[3:]])
