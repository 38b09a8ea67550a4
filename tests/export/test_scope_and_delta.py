"""An LA export holds only that LA's schools; a delta holds only who changed, with the
unallocated marked tobedeleted; the command refuses bad input with exit 2 and no file."""

from __future__ import annotations

import csv
import io
import json
import time
import zipfile
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner
from django.utils import timezone

from rollsync.access.roles import RoleName
from rollsync.access.selectors import OPERATOR, Grant
from rollsync.cli import main
from rollsync.directory import models as m
from rollsync.directory.exports import ExportRefused, export_make
from rollsync.directory.selectors import school_ref
from rollsync.directory.services.schools import school_add, school_policy_set
from rollsync.domain.records import Deletion, Role
from rollsync.ingest.oneroster import OneRosterReader
from tests.safety.directory import load_baseline, run_upload
from tests.safety.exports import Upload, school_exports


def _files(payload: bytes) -> dict[str, list[dict[str, str]]]:
    with zipfile.ZipFile(io.BytesIO(payload)) as bundle:
        return {
            name: list(csv.DictReader(io.StringIO(bundle.read(name).decode("utf-8"))))
            for name in bundle.namelist()
        }


def _cli(*args: str) -> Any:
    return CliRunner().invoke(main, list(args), catch_exceptions=False)


@pytest.mark.django_db
@pytest.mark.parametrize("fmt", ["oneroster", "sds"])
def test_an_la_export_holds_only_that_las_schools(fmt: str) -> None:
    ours = load_baseline(school_exports("csv"))
    theirs = load_baseline(school_exports("ctf"))  # another LA
    neighbour = school_add(urn="100009", la_code=ours.la.code, estab="2999", name="Neighbour")
    made = export_make(
        principal=OPERATOR, fmt=fmt, today=timezone.localdate(), la_code=ours.la.code
    )
    files = _files(made.payload)
    orgs = {row["sourcedId"] for row in files["orgs.csv"]}
    assert orgs == {f"LA{ours.la.code}", ours.urn, neighbour.urn}
    uids = {row["sourcedId"] for row in files["users.csv"]}
    ours_uids = {
        str(u)
        for u in m.Allocation.objects.filter(school=ours).values_list("account__uid", flat=True)
    }
    theirs_uids = {
        str(u)
        for u in m.Allocation.objects.filter(school=theirs).values_list("account__uid", flat=True)
    }
    assert uids == ours_uids and not uids & theirs_uids
    role_orgs = {row["orgSourcedId"] for row in files["roles.csv"]}
    assert role_orgs == {ours.urn}
    class_orgs = {
        row["schoolSourcedId" if fmt == "oneroster" else "orgSourcedId"]
        for row in files["classes.csv"]
    }
    assert class_orgs == {ours.urn}
    assert made.counts()["schools"] == 2


def _students_changed(upload: Upload, *, drop: str, rename: str) -> Upload:
    rows = list(csv.DictReader(io.StringIO(upload.payload.decode("utf-8"))))
    header = list(rows[0])
    out = io.StringIO()
    writer = csv.DictWriter(out, fieldnames=header, lineterminator="\n")
    writer.writeheader()
    for row in rows:
        if row["mis_id"] == drop:
            continue
        if row["mis_id"] == rename:
            row["preferred_given_name"] = "Zed"
        writer.writerow(row)
    return Upload(upload.name, out.getvalue().encode("utf-8"), upload.fmt, upload.report)


@pytest.mark.django_db
def test_a_delta_holds_only_the_changed_and_marks_the_unallocated_tobedeleted() -> None:
    ex = school_exports("csv")
    school = load_baseline(ex)
    pupils = list(m.Allocation.objects.filter(school=school, role="pupil").order_by("mis_id"))
    leaver, renamed = pupils[0], pupils[1]
    time.sleep(0.01)  # the baseline's last change and `since` must not share a moment
    since = timezone.now()
    students = next(u for u in ex.uploads(1) if u.report == "students")
    changed = _students_changed(students, drop=leaver.mis_id, rename=renamed.mis_id)
    run = run_upload(school, changed, ex.dates[1])
    assert run.status == m.SyncRun.Status.APPLIED, (run.status, run.errors, run.holds)

    made = export_make(
        principal=OPERATOR, fmt="oneroster", today=ex.dates[1], urn=school.urn, since=since
    )
    files = _files(made.payload)
    leaver_uid, renamed_uid = str(leaver.account.uid), str(renamed.account.uid)
    users = {row["sourcedId"]: row for row in files["users.csv"]}
    assert set(users) == {leaver_uid, renamed_uid}
    assert users[leaver_uid]["status"] == "tobedeleted"
    assert users[renamed_uid]["status"] == "active"
    assert users[renamed_uid]["preferredGivenName"] == "Zed"
    since_ms = since.replace(microsecond=since.microsecond // 1000 * 1000)
    assert all(datetime.fromisoformat(r["dateLastModified"]) >= since_ms for r in users.values())
    roles = {(r["userSourcedId"], r["status"], r["role"]) for r in files["roles.csv"]}
    assert roles == {(leaver_uid, "tobedeleted", "student"), (renamed_uid, "active", "student")}
    manifest = {r["propertyName"]: r["value"] for r in files["manifest.csv"]}
    assert (manifest["file.users"], manifest["file.roles"], manifest["file.orgs"]) == (
        "delta",
        "delta",
        "bulk",
    )
    assert manifest["file.classes"] == manifest["file.enrollments"] == "absent"
    assert "classes.csv" not in files

    # rollsync's own reader takes it as one change and one leaver, nothing else
    batch = OneRosterReader().parse(made.payload, school=school_ref(school), report=None)
    assert batch.errors == []
    assert [(p.role, p.mis_id, p.preferred_given_name) for p in batch.people] == [
        (Role.PUPIL, renamed_uid, "Zed")
    ]
    assert [(d.role, d.mis_id) for d in batch.deletions] == [(Role.PUPIL, leaver_uid)]
    assert isinstance(batch.deletions[0], Deletion)
    assert not batch.complete_for

    # an SDS delta: the changed person still placed, and no one else (no status to say a leaver)
    sds_made = export_make(
        principal=OPERATOR, fmt="sds", today=ex.dates[1], urn=school.urn, since=since
    )
    assert [row["sourcedId"] for row in _files(sds_made.payload)["users.csv"]] == [renamed_uid]
    assert (sds_made.counts()["people"], sds_made.counts()["to_be_deleted"]) == (1, 0)
    assert (made.counts()["people"], made.counts()["to_be_deleted"]) == (1, 1)


@pytest.mark.django_db
def test_the_command_writes_the_bundle_and_prints_counts(tmp_path: Path) -> None:
    ex = school_exports("csv")
    school = load_baseline(ex)
    out = tmp_path / "bundle.zip"
    result = _cli(
        "export", "--school", school.urn, "--format", "oneroster", "--out", str(out), "--json"
    )
    assert result.exit_code == 0, result.output
    summary = json.loads(result.stdout)
    pupils = m.Allocation.objects.filter(school=school, role="pupil").exclude(status="unallocated")
    assert summary["mode"] == "bulk" and summary["bytes"] == out.stat().st_size
    assert summary["counts"]["pupils"] == pupils.count()
    assert summary["counts"]["to_be_deleted"] == 0
    assert "users.csv" in zipfile.ZipFile(out).namelist()
    assert list(tmp_path.iterdir()) == [out]


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("args", "message"),
    [
        (("--school", "999999"), "no school with URN '999999'"),
        (("--la", "999"), "no LA with code '999'"),
        (("--school", "{urn}", "--since", "yesterday"), "--since must be an ISO 8601"),
        (("--school", "{urn}", "--since", "2026-13-01"), "--since must be an ISO 8601"),
        (("--school", "{urn}", "--la", "202"), "exactly one of --school URN or --la CODE"),
        ((), "exactly one of --school URN or --la CODE"),
    ],
)
def test_bad_input_exits_2_and_writes_no_file(
    tmp_path: Path, args: tuple[str, ...], message: str
) -> None:
    school = school_add(urn="100001", la_code="202", estab="2001", name="Hillside", la_name="N")
    out = tmp_path / "bundle.zip"
    filled = [a.replace("{urn}", school.urn) for a in args]
    result = _cli("export", *filled, "--format", "sds", "--out", str(out), "--json")
    assert result.exit_code == 2, result.output
    error = json.loads(result.stdout)["error"]
    assert message in error and "no file was written" in error
    assert list(tmp_path.iterdir()) == []


class _SchoolAdmin:
    """A principal holding one school (as an API token scoped to it would)."""

    def __init__(self, school: m.School) -> None:
        self.school = school

    def access_grants(self) -> tuple[Grant, ...]:
        return (Grant(RoleName.SCHOOL_ADMIN.value, school_id=self.school.pk),)


@pytest.mark.django_db
def test_a_principal_exports_only_the_schools_it_may_see() -> None:
    ours = school_add(urn="100001", la_code="202", estab="2001", name="Hillside", la_name="N")
    other = school_add(urn="100002", la_code="202", estab="2002", name="Riverside")
    admin = _SchoolAdmin(ours)
    with pytest.raises(ExportRefused) as refused:
        export_make(principal=admin, fmt="oneroster", today=timezone.localdate(), urn=other.urn)
    assert (refused.value.field, refused.value.message) == (
        "school",
        "no school with URN '100002' that you may see",
    )
    made = export_make(principal=admin, fmt="sds", today=timezone.localdate(), la_code="202")
    orgs = {row["sourcedId"] for row in _files(made.payload)["orgs.csv"]}
    assert orgs == {"LA202", ours.urn}


@pytest.mark.django_db
def test_an_la_delta_keeps_a_person_still_placed_at_another_school() -> None:
    ex = school_exports("csv")
    school = load_baseline(ex)
    neighbour = school_add(urn="100009", la_code=school.la.code, estab="2999", name="Neighbour")
    staff = m.Allocation.objects.filter(school=school, role="staff").order_by("mis_id")
    leaving, kept = staff[0], staff[1]
    # The same member of staff also works at the neighbouring school.
    m.Allocation.objects.create(
        account=leaving.account, school=neighbour, role="staff", mis_id="N1", status="active"
    )
    # One of five staff leaving is above the default guard: this school allows it.
    school_policy_set(school=school, guard_unallocate_pct=50.0, leaver_grace_days=None, actor="t")
    time.sleep(0.01)
    since = timezone.now()
    staff_upload = next(u for u in ex.uploads(1) if u.report == "staff")
    rows = list(csv.DictReader(io.StringIO(staff_upload.payload.decode("utf-8"))))
    out = io.StringIO()
    writer = csv.DictWriter(out, fieldnames=list(rows[0]), lineterminator="\n")
    writer.writeheader()
    writer.writerows(r for r in rows if r["mis_id"] != leaving.mis_id)
    changed = Upload("staff.csv", out.getvalue().encode("utf-8"), "csv", "staff")
    run = run_upload(school, changed, ex.dates[1])
    assert run.status == m.SyncRun.Status.APPLIED, (run.status, run.errors, run.holds)

    made = export_make(
        principal=OPERATOR, fmt="oneroster", today=ex.dates[1], la_code=school.la.code, since=since
    )
    files = _files(made.payload)
    uid = str(leaving.account.uid)
    assert [(r["sourcedId"], r["status"]) for r in files["users.csv"]] == [(uid, "active")]
    assert {(r["orgSourcedId"], r["status"]) for r in files["roles.csv"]} == {
        (school.urn, "tobedeleted"),
        (neighbour.urn, "active"),
    }
    assert str(kept.account.uid) not in {r["userSourcedId"] for r in files["roles.csv"]}
    # the school's own delta: the member of staff has no place left there
    own = _files(
        export_make(
            principal=OPERATOR, fmt="oneroster", today=ex.dates[1], urn=school.urn, since=since
        ).payload
    )
    assert [(r["sourcedId"], r["status"]) for r in own["users.csv"]] == [(uid, "tobedeleted")]
