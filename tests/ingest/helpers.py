"""Shared test data: the school the fixtures belong to, and small file builders."""

from __future__ import annotations

import pathlib
import zipfile

from rollsync.domain.records import ImportBatch, RowError
from rollsync.domain.state import SchoolRef
from tests.zips import zip_members

FIXTURES = pathlib.Path(__file__).parent / "fixtures"

# The fixtures' school: URN 123456, DfE number 202/3456.
SCHOOL = SchoolRef(urn="123456", la_code="202", estab="3456", name="Hillside Primary School")
OTHER_SCHOOL = SchoolRef(urn="999999", la_code="203", estab="1111", name="Far Away School")

UPN_1 = "Z202345615001"
UPN_2 = "N202345615002"
UPN_3 = "C202345615003"
UPN_4 = "R202345615004"
TEMP_UPN = "M20234561607A"  # temporary UPN (letter last), check letter right
BAD_CHECK_UPN = "A202345615009"  # the digits give another check letter


def fixture_bytes(*parts: str) -> bytes:
    return FIXTURES.joinpath(*parts).read_bytes()


def zip_of(files: dict[str, str | bytes], *, folder: str = "") -> bytes:
    """A zip holding `files` (name -> content), optionally inside a folder."""
    return zip_members(files, folder=folder, compression=zipfile.ZIP_DEFLATED)


def folder_files(name: str) -> dict[str, str]:
    """A fixture folder's files as text, to vary in a test."""
    return {p.name: p.read_text("utf-8") for p in sorted((FIXTURES / name).iterdir())}


def where(batch: ImportBatch) -> list[tuple[int | None, str | None]]:
    """The (row, field) of every error, in order."""
    return [(e.row, e.field) for e in batch.errors]


def where_in(batch: ImportBatch) -> list[tuple[str | None, int | None, str | None]]:
    """The (source, row, field) of every error, in order."""
    return [(e.source, e.row, e.field) for e in batch.errors]


def only_error(batch: ImportBatch) -> RowError:
    assert len(batch.errors) == 1, batch.errors
    return batch.errors[0]


def assert_refused(batch: ImportBatch, *phrases: str) -> RowError:
    """A whole-file refusal: fatal, no records at all, and a message saying why."""
    assert batch.fatal
    assert batch.people == []
    assert batch.contact_links == []
    assert batch.groups == []
    assert batch.memberships == []
    assert batch.attendance == []
    assert batch.deletions == []
    assert batch.complete_for == frozenset()
    assert batch.rejected_keys == set()
    error = only_error(batch)
    assert error.row is None
    for phrase in phrases:
        assert phrase in error.message, error.message
    return error


CTF_HEADER = """<Header>
    <DocumentName>Common Transfer File</DocumentName>
    <CTFversion>{version}</CTFversion>
    <DateTime>2025-03-14T16:05:00</DateTime>
    <DocumentQualifier>{qualifier}</DocumentQualifier>
    <SourceSchool>
      <LEA>{lea}</LEA>
      <Estab>{estab}</Estab>
      <URN>{urn}</URN>
      <SchoolName>Hillside Primary School</SchoolName>
    </SourceSchool>
  </Header>"""


def ctf_doc(
    pupils: str,
    *,
    version: str = "25.0",
    qualifier: str = "full",
    lea: str = "202",
    estab: str = "3456",
    urn: str = "123456",
    namespace: str | None = None,
    encoding: str = "UTF-8",
) -> str:
    xmlns = f' xmlns="{namespace}"' if namespace else ""
    header = CTF_HEADER.format(version=version, qualifier=qualifier, lea=lea, estab=estab, urn=urn)
    return (
        f'<?xml version="1.0" encoding="{encoding}"?>\n'
        f"<CTfile{xmlns}>\n  {header}\n  <CTFpupilData>\n{pupils}\n  </CTFpupilData>\n</CTfile>\n"
    )


def ctf_pupil(
    *,
    upn: str | None = UPN_1,
    surname: str | None = "O'Brien",
    forename: str | None = "Zoë",
    dob: str | None = "2015-02-03",
    sex: str | None = "F",
    extra: str = "",
) -> str:
    parts = [
        f"<UPN>{upn}</UPN>" if upn is not None else "",
        f"<Surname>{surname}</Surname>" if surname is not None else "",
        f"<Forename>{forename}</Forename>" if forename is not None else "",
        f"<DOB>{dob}</DOB>" if dob is not None else "",
        f"<Sex>{sex}</Sex>" if sex is not None else "",
        extra,
    ]
    return "    <Pupil>" + "".join(parts) + "</Pupil>"
