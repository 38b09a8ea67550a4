"""A rollsync-CSV school's night-2 Students, Contacts and Groups & Classes files imported
at the same moment by three real `rollsync import` processes on PostgreSQL, after night 1
(docs/decisions/0104, 0107, 0108). Each may be read in part against its own night-1 file
outside the lock, then find that another applied first. Whatever order they take the
lock in, the directory ends as the three files imported one after another in that order.
Among the night's changes: a starter whose contact line and class line may be planned
before the Students file that makes them, a leaver whose contacts' and classes' lines
stay as they were, a pupil renamed, a contact's phone changed, a membership dropped. The
first of them to apply is read in part. The next night the same files leave the
directory as if they had come in the order a school sends them.

Not vacuous: with both refreshes of a read in part taken out (the accounts touched
meanwhile, asked under the lock, and `planning.unsafe_unchanged` on the snapshot), an
attempt whose Students run applied between another's read and its plan ends otherwise."""

from __future__ import annotations

import csv
import io
from pathlib import Path
from typing import Any

import psycopg
import pytest

from rollsync.domain.reports import CATALOGUE
from rollsync.domain.upn import make_upn
from tests.concurrency.conftest import (
    database_is_postgres,
    import_at_once,
    one_school_plan,
    people_of,
    prepared,
)

pytestmark = pytest.mark.skipif(
    not database_is_postgres(), reason="row locks and a real server: PostgreSQL only"
)

RACED = ("students", "contacts", "groups")  # night 2's files, chains 1, 2 and 3


def _rows(data: bytes) -> list[list[str]]:
    return list(csv.reader(io.StringIO(data.decode())))


def _written(rows: list[list[str]]) -> bytes:
    out = io.StringIO()
    csv.writer(out, lineterminator="\r\n").writerows(rows)
    return out.getvalue().encode()


def _night2(files: dict[str, bytes]) -> dict[str, bytes]:
    """Night 1's Students, Contacts and Groups files with a few changes each, and a
    starter named by all three."""
    students, contacts, groups = (_rows(files[r]) for r in RACED)
    col = {name: n for n, name in enumerate(students[0])}
    renamed = students[1]
    renamed[col["legal_family_name"]] = "Arnold"
    starter = list(students[2])
    starter[col["mis_id"]] = "S900"
    starter[col["legal_given_name"]] = "Sabine"
    starter[col["legal_family_name"]] = "Quennell"
    starter[col["date_of_birth"]] = "2012-02-29"
    starter[col["upn"]] = make_upn("938", "4999", 2026, 1)
    students.append(starter)
    del students[3]  # a leaver, whose contacts' and classes' lines stay as they were
    col = {name: n for n, name in enumerate(contacts[0])}
    contacts[3][col["phone"]] = "07700 900999"
    parent = list(contacts[1])
    parent[col["mis_id"]], parent[col["pupil_mis_id"]] = "S901", "S900"
    parent[col["legal_given_name"]], parent[col["legal_family_name"]] = "Rhoda", "Quennell"
    parent[col["email"]], parent[col["phone"]] = "", "07700 900998"
    contacts.append(parent)
    col = {name: n for n, name in enumerate(groups[0])}
    pupil_lines = [n for n, row in enumerate(groups) if n and row[col["person_role"]] == "pupil"]
    first_of: dict[str, int] = {}
    for n, row in enumerate(groups[1:], 1):
        first_of.setdefault(row[col["group_mis_id"]], n)
    dropped = next(n for n in pupil_lines if first_of[groups[n][col["group_mis_id"]]] != n)
    joined = list(groups[pupil_lines[0]])
    joined[col["person_mis_id"]] = "S900"
    groups = [row for n, row in enumerate(groups) if n != dropped] + [joined]
    return dict(zip(RACED, map(_written, (students, contacts, groups)), strict=True))


@pytest.fixture(scope="module")
def nights(tmp_path_factory: pytest.TempPathFactory, scratch_pg: Any) -> tuple[Path, str]:
    """The driver's plan (chain 0: night 1's seven files; chains 1-3: night 2's
    Students, Contacts and Groups files) and a migrated template with the school set up."""
    from rollsync.simulate import make_school_truth, write_school_export

    home = tmp_path_factory.mktemp("reportrace")
    truth = make_school_truth(pupils=60, seed=9)
    entries = write_school_export(truth, 1, "csv", home / "d1")
    order = {report: n for n, report in enumerate(CATALOGUE)}
    entries = sorted(entries, key=lambda e: order[e.report])
    files = {e.report: (home / "d1" / e.path).read_bytes() for e in entries}
    job = {"urn": truth.urn, "format": "csv", "date": str(truth.date)}
    night1 = [{**job, "report": e.report, "path": str(home / "d1" / e.path)} for e in entries]
    chains = [night1]
    for report, payload in _night2(files).items():
        path = home / f"night2-{report}.csv"
        path.write_bytes(payload)
        chains.append([{**job, "report": report, "path": str(path)}])
    plan_path = one_school_plan(truth, chains, home)
    template = scratch_pg("")
    prepared(template, home, plan_path)
    return plan_path, template


def _applied_in_order(url: str, runs: list[int]) -> list[tuple[str, bool]]:
    """(report, read in part) of each run, in the order they applied."""
    with psycopg.connect(url) as conn:
        return [
            (report, in_part)
            for report, in_part in conn.execute(
                "SELECT u.report, r.read_in_part FROM directory_syncrun r"
                " JOIN directory_upload u ON u.id = r.upload_id"
                " WHERE r.id = ANY(%s) AND r.status = 'applied' ORDER BY r.applied_at",
                [runs],
            )
        ]


@pytest.mark.parametrize("attempt", range(3))
def test_three_report_files_at_once_end_as_their_runs_one_after_another(
    tmp_path: Path, scratch_pg: Any, nights: tuple[Path, str], attempt: int
) -> None:
    plan_path, template = nights
    raced = scratch_pg(template)
    first, err = import_at_once(plan_path, raced, tmp_path, [[0]])
    assert {r["status"] for r in first} == {"applied"}, (first, err)
    runs, errors = import_at_once(
        plan_path, raced, tmp_path, [[1], [2], [3]], barrier=tmp_path / "go"
    )
    assert all("Traceback" not in e for e in errors), errors
    assert [r["status"] for r in runs] == ["applied"] * 3, runs
    order = _applied_in_order(raced, [r["run"] for r in runs])
    assert sorted(report for report, _ in order) == sorted(RACED), order
    # The first to apply stood on night 1 alone: read in part.
    assert order[0][1], order
    alone = scratch_pg(template)
    chains = [0, *(1 + RACED.index(report) for report, _ in order)]
    done, _ = import_at_once(plan_path, alone, tmp_path, [chains])
    assert {r["status"] for r in done} == {"applied"}, done
    assert people_of(raced, tmp_path) == people_of(alone, tmp_path), order
    # The next night, the same three files: the directory ends as if night 2 had come
    # in the order a school sends them, whatever order it took. A line refused because
    # its starter came later (a contact's link, a class) is read again and made.
    done, _ = import_at_once(plan_path, raced, tmp_path, [[1, 2, 3]])
    assert {r["status"] for r in done} == {"applied"}, done
    canonical = scratch_pg(template)
    done, _ = import_at_once(plan_path, canonical, tmp_path, [[0, 1, 2, 3, 1, 2, 3]])
    assert {r["status"] for r in done} == {"applied"}, done
    settled = people_of(raced, tmp_path)
    assert settled == people_of(canonical, tmp_path), order
    starter = next(k for k in settled["accounts"] if k.endswith(":pupil:S900"))
    parent = next(k for k in settled["accounts"] if k.endswith(":contact:S901"))
    assert [link[1:3] for link in settled["contact_links"] if link[2] == starter] == [
        [parent, starter]
    ]
    assert len([m for m in settled["memberships"] if m[1] == starter and m[3]]) == 1
    renamed = [a for a in settled["accounts"].values() if a["legal_family_name"] == "Arnold"]
    assert len(renamed) == 1
