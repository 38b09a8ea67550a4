"""The format documents stay in step with the code they describe."""

from __future__ import annotations

import pathlib
import re

import pytest

from rollsync.domain.records import Role
from rollsync.domain.reports import CATALOGUE
from rollsync.ingest import FORMATS
from rollsync.ingest.collect import mandatory_for
from rollsync.ingest.oneroster import ROLES
from rollsync.ingest.sds import STAFF_ROLES
from rollsync.ingest.values import ATTENDANCE_CODES

DOCS = pathlib.Path(__file__).resolve().parents[2] / "docs" / "formats"
CSV_SPEC = (DOCS / "rollsync-csv.md").read_text("utf-8")

# The section of the CSV spec for each report, by its heading.
_SECTIONS = {
    "students": "## Students (current) and Students (future)",
    "students_future": "## Students (current) and Students (future)",
    "staff": "## Staff (current) and Staff (future)",
    "staff_future": "## Staff (current) and Staff (future)",
    "contacts": "## Contacts",
    "groups": "## Groups & Classes",
    "attendance": "## Attendance",
}


def _section(heading: str) -> str:
    start = CSV_SPEC.index(heading)
    end = CSV_SPEC.find("\n## ", start + len(heading))
    return CSV_SPEC[start : end if end != -1 else None]


def test_one_document_per_format():
    names = {
        "ctf": "ctf.md",
        "oneroster": "oneroster.md",
        "sds": "sds.md",
        "csv": "rollsync-csv.md",
        "sims-superstar": "sims-superstar.md",
    }
    assert set(names) == set(FORMATS)
    for name in names.values():
        assert (DOCS / name).is_file(), name


@pytest.mark.parametrize("report", list(CATALOGUE))
def test_csv_spec_lists_every_field_with_its_status(report):
    section = _section(_SECTIONS[report])
    rows = dict(re.findall(r"^\| `(\w+)` \| (mandatory|optional) \|", section, flags=re.M))
    expected = {
        f.name: "mandatory" if f.mandatory else "optional" for f in CATALOGUE[report].fields
    }
    assert rows == expected


def test_csv_spec_lists_every_attendance_code():
    codes_line = next(line for line in _section("## Attendance").splitlines() if "`code`" in line)
    written = set(re.findall(r"`([^`]+)`", codes_line)) - {"code"}
    written |= {f"Y{n}" for n in range(1, 8)}  # written as a range: `Y1`-`Y7`
    assert written >= ATTENDANCE_CODES


def test_oneroster_doc_lists_every_role():
    doc = (DOCS / "oneroster.md").read_text("utf-8").casefold()
    for role in ROLES:
        assert f"`{role}`" in doc, role


def test_sds_doc_lists_every_staff_role():
    doc = (DOCS / "sds.md").read_text("utf-8").casefold()
    for role in STAFF_ROLES:
        assert f"`{role}`" in doc, role


@pytest.mark.parametrize("name", ["oneroster.md", "sds.md"])
def test_bundle_docs_give_each_roles_date_of_birth_as_the_catalogue_does(name):
    """The bundles read dates of birth from demographics.csv; their docs say for
    whom one is mandatory, which must be what the catalogue says."""
    doc = " ".join((DOCS / name).read_text("utf-8").split())
    for role, words in ((Role.PUPIL, "pupils"), (Role.STAFF, "staff")):
        status = "mandatory" if mandatory_for(role, "date_of_birth") else "optional"
        other = "optional" if status == "mandatory" else "mandatory"
        assert f"{status} for {words}" in doc, (role, status)
        assert f"{other} for {words}" not in doc, (role, other)
    assert "pupils and staff" not in doc  # the old wording, when both needed one
