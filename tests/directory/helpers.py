"""Helpers for directory tests: CSV writing, the CLI runner, directory snapshots."""

from __future__ import annotations

import csv
import io
import json
from collections import Counter
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from click.testing import CliRunner

from rollsync.cli import main
from rollsync.directory import models as m
from rollsync.domain.reports import CATALOGUE

SCHOOL_URN = "100001"
OTHER_URN = "100002"
FAR_URN = "200001"  # a school in another LA


def csv_bytes(report: str, rows: Iterable[Mapping[str, Any]]) -> bytes:
    """A rollsync CSV for `report` with every catalogue column as header."""
    fields = [f.name for f in CATALOGUE[report].fields]
    out = io.StringIO()
    writer = csv.DictWriter(out, fieldnames=fields, lineterminator="\n")
    writer.writeheader()
    for row in rows:
        writer.writerow({k: ("" if v is None else v) for k, v in row.items()})
    return out.getvalue().encode("utf-8")


def csv_upload(
    school: m.School, rows: Iterable[Mapping[str, Any]], *, report: str = "students", **kw: Any
) -> m.Upload:
    """`rows` stored as the school's upload of `report` (Students by default), a
    rollsync CSV."""
    from rollsync.directory.services.uploads import upload_store

    return upload_store(
        school=school,
        payload=csv_bytes(report, rows),
        fmt="csv",
        report=report,
        filename=f"{report}.csv",
        source="test",
        **kw,
    )


def pupil(mis_id: str, given: str, family: str, dob: str, **extra: Any) -> dict[str, Any]:
    return {
        "mis_id": mis_id,
        "legal_given_name": given,
        "legal_family_name": family,
        "date_of_birth": dob,
        **extra,
    }


class Cli:
    def __init__(self) -> None:
        self.runner = CliRunner()

    def __call__(self, *args: str, expect: int | None = 0) -> Any:
        result = self.runner.invoke(main, list(args), catch_exceptions=False)
        if expect is not None:
            assert result.exit_code == expect, (result.exit_code, result.output)
        return result

    def json(self, *args: str, expect: int | None = 0) -> Any:
        result = self(*args, "--json", expect=expect)
        return json.loads(result.stdout)


def import_json(
    cli: Cli,
    path: Path,
    *,
    urn: str = SCHOOL_URN,
    report: str = "students",
    expect: int = 0,
    extra: tuple[str, ...] = (),
) -> Any:
    return cli.json(
        "import",
        str(path),
        "--school",
        urn,
        "--format",
        "csv",
        "--report",
        report,
        *extra,
        expect=expect,
    )


def snapshot() -> dict[str, Any]:
    """Everything the directory holds, to assert that nothing changed."""
    return {
        "accounts": list(m.Account.objects.order_by("pk").values()),
        "allocations": list(m.Allocation.objects.order_by("pk").values()),
        "groups": list(m.Group.objects.order_by("pk").values()),
        "memberships": list(m.GroupMembership.objects.order_by("pk").values()),
        "links": list(m.ContactLink.objects.order_by("pk").values()),
        "cases": list(m.MatchCase.objects.order_by("pk").values()),
        "audit": m.AuditEvent.objects.count(),
    }


def simulated_bundle(
    folder: Any, *, pupils: int = 120, seed: int = 5
) -> tuple[m.School, bytes, Any]:
    """A simulated school (`simulate.make_school_truth`) added to the directory, taking
    every report, with its day-1 OneRoster bundle (written under `folder`) and its day."""
    from rollsync.simulate import make_school_truth, write_school_export

    truth = make_school_truth(pupils=pupils, seed=seed)
    school = simulated_school(truth)
    [entry] = write_school_export(truth, 1, "oneroster", folder)
    return school, (folder / entry.path).read_bytes(), truth.date


def simulated_school(truth: Any) -> m.School:
    """A simulated school's (`simulate.make_school_truth`) entry in the directory, taking
    every report."""
    from rollsync.directory.services.schools import school_add
    from rollsync.domain.reports import CATALOGUE

    return school_add(
        urn=truth.urn,
        la_code=truth.la_code,
        estab=truth.estab,
        name=truth.school_name,
        accept_reports=tuple(CATALOGUE),
        actor="test",
    )


STAFF_SURNAMES = ["Khan", "Lund", "Okafor", "Novak", "Reyes", "Sato", "Tanaka", "Umar", "Vance",
                  "Weiss", "Xu", "Young"]  # fmt: skip


def staff_rows(prefix: str, ids: Iterable[int], **extra: Any) -> list[dict[str, Any]]:
    """Staff rows of a Staff report, one per number in `ids` (up to 11): MIS ID
    `prefix` and the number, a surname each (`STAFF_SURNAMES`), a date of birth and an
    email that tell them apart."""
    return [
        {
            "mis_id": f"{prefix}{i}",
            "legal_given_name": f"Ann{chr(97 + i)}",
            "legal_family_name": STAFF_SURNAMES[i],
            "date_of_birth": f"198{i % 10}-0{1 + i % 9}-1{i % 10}",
            "email": f"ann{i}@staff.example",
            **extra,
        }
        for i in ids
    ]


@dataclass
class Compared:
    """What `compare_every_plan` saw."""

    plans: int = 0
    scoped: Counter[str] = field(default_factory=Counter)  # report -> plans read scoped
    fewer_accounts: int = 0
    fewer_memberships: int = 0  # plans of a batch read in part, from some memberships
    # Plans of a batch that left someone out as unchanged and whose snapshot counts the
    # memberships it did not read (a read in part that built everyone leaves nobody out).
    leaving_out: int = 0
