"""What both writers share: CSV and zip bytes, dates, grades, roles."""

from __future__ import annotations

import csv
import io
import zipfile
from collections.abc import Iterable, Sequence
from datetime import UTC, date, datetime

from rollsync.domain.records import Gender

# A fixed time inside the zip: the same directory gives the same bytes.
_ZIP_TIME = (1980, 1, 1, 0, 0, 0)


def csv_bytes(header: Sequence[str], rows: Iterable[Sequence[str]]) -> bytes:
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\r\n")  # RFC 4180, as both standards ask
    writer.writerow(header)
    for row in rows:
        if len(row) != len(header):
            raise ValueError(f"a row of {len(row)} values for {len(header)} columns")
        writer.writerow(row)
    return out.getvalue().encode("utf-8")


def zip_bytes(files: dict[str, bytes]) -> bytes:
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", compression=zipfile.ZIP_DEFLATED) as bundle:
        for name in sorted(files):
            info = zipfile.ZipInfo(name, date_time=_ZIP_TIME)
            info.compress_type = zipfile.ZIP_DEFLATED
            bundle.writestr(info, files[name])
    return out.getvalue()


def iso_date(value: date | None) -> str:
    return value.isoformat() if value else ""


def iso_time(value: datetime | None) -> str:
    """ISO 8601 in UTC with milliseconds, as OneRoster's dateLastModified."""
    if value is None:
        return ""
    if value.tzinfo is not None:
        value = value.astimezone(UTC)
    return value.strftime("%Y-%m-%dT%H:%M:%S.") + f"{value.microsecond // 1000:03d}Z"


def grade(year_group: str | None) -> str:
    """A UK year as both formats' grade: 7 -> 07; R and nursery years as held."""
    if not year_group:
        return ""
    return f"{int(year_group):02d}" if year_group.isdigit() else year_group


def contact_role(relationship: str | None) -> str:
    """A relationship in words as the roles both standards name: parent, guardian or
    relative (OneRoster has no other contact role)."""
    word = (relationship or "").strip().casefold()
    if word in ("guardian", "carer", "foster carer", "legal guardian"):
        return "guardian"
    if word in ("", "parent", "mother", "father", "step-mother", "step-father"):
        return "parent"
    return "relative"


def clean(value: str | None) -> str:
    """Both standards take no line break in a value."""
    return " ".join((value or "").split("\n")).replace("\r", " ")


ONEROSTER_SEX = {
    Gender.MALE: "male",
    Gender.FEMALE: "female",
    Gender.OTHER: "other",
    Gender.UNKNOWN: "unspecified",
}
SDS_SEX = {
    Gender.MALE: "male",
    Gender.FEMALE: "female",
    Gender.OTHER: "notSelected",
    Gender.UNKNOWN: "notSelected",
}
