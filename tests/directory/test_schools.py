"""Registering schools, GIAS import, reports and opt-outs."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from rollsync.directory import models as m
from tests.directory.helpers import SCHOOL_URN, import_json, pupil, snapshot

GIAS_HEADER = (
    "URN,LA (code),LA (name),EstablishmentNumber,EstablishmentName,TypeOfEstablishment (name),"
    "PhaseOfEducation (name),EstablishmentStatus (name)\n"
)


def test_school_add_creates_la_on_first_use(cli: Any) -> None:
    out = cli(
        "school",
        "add",
        "--urn",
        "100001",
        "--la",
        "202",
        "--estab",
        "2001",
        "--name",
        "Hillside Primary",
        "--la-name",
        "Northshire",
    )
    assert out.output.strip() == "school 100001 Hillside Primary (LA 202, DfE 2022001)"
    school = m.School.objects.select_related("la").get()
    assert (school.la.code, school.la.name, school.estab) == ("202", "Northshire", "2001")
    assert sorted(school.accepted_reports.values_list("report", flat=True)) == [
        "contacts",
        "groups",
        "staff",
        "students",
    ]


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (("--urn", "12", "--la", "202", "--estab", "2001"), "URN '12' must be 6 or 7 digits"),
        (("--urn", "100001", "--la", "20", "--estab", "2001"), "LA code '20' must be three digits"),
        (
            ("--urn", "100001", "--la", "202", "--estab", "21"),
            "establishment number '21' must be four digits",
        ),
    ],
)
def test_school_add_refuses_bad_identifiers_and_stores_nothing(
    cli: Any, args: tuple[str, ...], message: str
) -> None:
    out = cli("school", "add", *args, "--name", "X", expect=2)
    assert message in out.output
    assert m.School.objects.count() == 0
    assert m.LocalAuthority.objects.count() == 0


def test_gias_import_cp1252_with_bad_rows(cli: Any, tmp_path: Path) -> None:
    body = (
        GIAS_HEADER
        + "100001,202,Northshire,2001,St Mary's C of E Primary,Community school,Primary,Open\n"
        + "100002,202,Northshire,12345,Bad Estab School,Academy,Secondary,Open\n"
        + "100003,303,Southshire,4001,Ysgol Gymraeg Brynmôr,Community school,Primary,Open\n"
    )
    path = tmp_path / "edubasealldata.csv"
    path.write_bytes(body.encode("cp1252"))
    out = cli.json("schools", "import", str(path))
    assert (out["created"], out["updated"], out["unchanged"]) == (2, 0, 0)
    assert out["errors"] == [
        {
            "row": 3,
            "field": "EstablishmentNumber",
            "message": "establishment number '12345' must be four digits",
        }
    ]
    assert sorted(m.School.objects.values_list("urn", "name", "estab", "la__code")) == [
        ("100001", "St Mary's C of E Primary", "2001", "202"),
        ("100003", "Ysgol Gymraeg Brynmôr", "4001", "303"),
    ]
    again = cli.json("schools", "import", str(path))
    assert (again["created"], again["updated"], again["unchanged"]) == (0, 0, 2)


def test_gias_import_missing_column_is_a_file_error(cli: Any, tmp_path: Path) -> None:
    path = tmp_path / "gias.csv"
    path.write_text("URN,EstablishmentName\n100001,X\n")
    out = cli.json("schools", "import", str(path), expect=1)
    assert out["errors"][0]["row"] is None
    assert "LA (code)" in out["errors"][0]["field"]
    assert m.School.objects.count() == 0


def test_mandatory_field_cannot_be_opted_out(cli: Any, school: Any) -> None:
    out = cli(
        "school", "reports", "--school", SCHOOL_URN, "--opt-out", "students.date_of_birth", expect=2
    )
    assert "mandatory" in out.output
    assert m.FieldOptOut.objects.count() == 0


def test_opted_out_field_is_never_stored(cli: Any, school: Any, write_csv: Any) -> None:
    cli("school", "reports", "--school", SCHOOL_URN, "--opt-out", "students.upn")
    reports = cli.json("school", "reports", "--school", SCHOOL_URN)
    students = next(r for r in reports["reports"] if r["report"] == "students")
    statuses = {f["field"]: f["status"] for f in students["fields"]}
    assert (statuses["upn"], statuses["date_of_birth"], statuses["gender"]) == (
        "not uploaded",
        "mandatory",
        "uploaded",
    )
    import_json(
        cli,
        write_csv("students", [pupil("1001", "Amir", "Khan", "2016-01-02", upn="K202345623017")]),
        extra=("--as-of", "2026-09-07"),
    )
    allocation = m.Allocation.objects.select_related("account").get()
    assert (allocation.upn, allocation.account.upn) == (None, None)
    run = m.SyncRun.objects.get()
    assert "K202345623017" not in str(run.actions)


def test_unknown_school_is_an_error(cli: Any, tmp_path: Path) -> None:
    before = snapshot()
    path = tmp_path / "s.csv"
    path.write_text("mis_id\n")
    out = cli.json(
        "import",
        str(path),
        "--school",
        "999999",
        "--format",
        "csv",
        "--report",
        "students",
        expect=1,
    )
    assert "no school with URN 999999" in out["error"]
    assert snapshot() == before


def test_migrate_creates_the_sqlite_database_under_var(tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if k != "DATABASE_URL"}
    env["ROLLSYNC_HOME"] = str(tmp_path)
    rollsync = Path(sys.executable).with_name("rollsync")
    done = subprocess.run(
        [str(rollsync), "migrate"],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    assert (tmp_path / "var" / "rollsync.sqlite3").is_file()
    added = subprocess.run(
        [
            str(rollsync),
            "school",
            "add",
            "--urn",
            "100001",
            "--la",
            "202",
            "--estab",
            "2001",
            "--name",
            "Hillside",
        ],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        check=False,
    )
    assert added.returncode == 0, added.stderr
    assert "school 100001 Hillside" in added.stdout
