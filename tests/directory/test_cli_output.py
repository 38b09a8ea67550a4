"""Issue 8, defect 9: `runs list` has a header and each run's own time; `school reports`
prints what docs/cli.md promises (every report's code, whether accepted, its fields by
status)."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from rollsync.directory import models as m
from rollsync.domain.reports import CATALOGUE
from tests.directory.helpers import SCHOOL_URN, import_json, pupil


def test_runs_list_has_a_header_and_the_runs_own_time(
    cli: Any, school: Any, write_csv: Any
) -> None:
    assert cli("runs", "list", "--school", SCHOOL_URN).output == (
        f"No runs or uploads at {SCHOOL_URN} Hillside Primary: none.\n"
    )
    path = write_csv("students", [pupil("1001", "Amir", "Khan", "2016-01-02")])
    out = import_json(cli, path, extra=("--as-of", "2026-09-07"))
    run = m.SyncRun.objects.get(pk=out["run"])
    # The upload arrived long before the run: the list shows the run's time.
    m.Upload.objects.filter(pk=run.upload_id).update(
        received_at=datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC)
    )
    m.SyncRun.objects.filter(pk=run.pk).update(
        created_at=datetime(2026, 9, 7, 6, 30, 0, tzinfo=UTC)
    )
    lines = cli("runs", "list", "--school", SCHOOL_URN).output.splitlines()
    assert lines[0].split() == ["RUN", "AT", "(UTC)", "FORMAT", "FILE", "STATUS", "SHA-256", "NOTE"]
    assert lines[1].split()[:4] == [str(run.pk), "2026-09-07", "06:30:00", "csv"]
    assert "2026-01-02" not in lines[1]
    [row] = cli.json("runs", "list", "--school", SCHOOL_URN)
    assert (row["at"], row["received_at"]) == (
        "2026-09-07T06:30:00+00:00",
        "2026-01-02T03:04:05+00:00",
    )


def test_school_reports_lists_every_report_and_its_fields(cli: Any, school: Any) -> None:
    cli("school", "reports", "--school", SCHOOL_URN, "--opt-out", "students.upn")
    out = cli("school", "reports", "--school", SCHOOL_URN).output.splitlines()
    assert out[0] == f"Reports of {SCHOOL_URN} Hillside Primary:"
    students = out.index("students: Students (current), accepted")
    spec = CATALOGUE["students"]
    mandatory = [f.name for f in spec.fields if f.mandatory]
    uploaded = [f.name for f in spec.fields if not f.mandatory and f.name != "upn"]
    assert out[students + 1 : students + 4] == [
        f"  mandatory: {', '.join(mandatory)}",
        f"  uploaded: {', '.join(uploaded)}",
        "  not uploaded: upn",
    ]
    assert len(out) == 1 + 4 * len(CATALOGUE)
    assert "attendance: Attendance, not accepted" in out


def test_runs_list_reads_no_file_bytes_and_no_plan(cli: Any, school: Any, write_csv: Any) -> None:
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    for n in range(3):
        import_json(cli, write_csv("students", [pupil(f"10{n}", "Amir", "Khan", "2016-01-02")]))
    m.Upload.objects.create(
        school=school, fmt="csv", report="students", data=b"x" * 1000, size=1000, sha256="0" * 64
    )
    with CaptureQueriesContext(connection) as queries:
        rows = cli.json("runs", "list", "--school", SCHOOL_URN)
    assert [r["run"] is None for r in rows] == [True, False, False, False]
    read = " ".join(q["sql"] for q in queries.captured_queries)
    assert '"directory_upload"."data"' not in read
    assert '"directory_syncrun"."actions"' not in read
    assert '"directory_syncrun"."counts"' in read  # the summary is still read
