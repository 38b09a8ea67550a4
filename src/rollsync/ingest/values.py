"""Reading single values: dates, names, genders, booleans, UPNs, codes.

Every reader takes the raw text and the field name as the file calls it, and
either returns the canonical value or raises `BadValue` with a message a school
admin understands ("date_of_birth '31/02/2015' is not a real date").
"""

from __future__ import annotations

import re
from datetime import date
from enum import Flag, auto

from rollsync.domain.records import Gender, GroupKind, MembershipRole, Role
from rollsync.domain.upn import InvalidUPN, normalise_upn

from .errors import BadValue

# Appended to the message of a bad optional value, which is dropped, not the row.
KEPT_WITHOUT = "the rest of the row was imported without it"
SKIPPED = "the row was skipped"


class DateForms(Flag):
    """Which written forms of a date a format allows."""

    ISO = auto()  # 2015-02-28 (a time after it, as in 2015-02-28T00:00:00, is ignored)
    UK = auto()  # 28/02/2015 (day first; 1 or 2 digits for day and month)
    COMPACT = auto()  # 20150228


ANY_DATE = DateForms.ISO | DateForms.UK | DateForms.COMPACT
ISO_DATES = DateForms.ISO | DateForms.COMPACT

_ISO = re.compile(
    r"^(\d{4})-(\d{2})-(\d{2})"
    r"(?:[T ]\d{2}:\d{2}(?::\d{2}(?:\.\d+)?)?(?:Z|[+-]\d{2}:?\d{2})?)?$"
)
_UK = re.compile(r"^(\d{1,2})/(\d{1,2})/(\d{4})$")
_COMPACT = re.compile(r"^(\d{4})(\d{2})(\d{2})$")

_FORM_NAMES = (
    (DateForms.ISO, "YYYY-MM-DD"),
    (DateForms.UK, "DD/MM/YYYY"),
    (DateForms.COMPACT, "YYYYMMDD"),
)


def clean(raw: str | None) -> str:
    """Trim, and collapse runs of inner whitespace to one space."""
    if not raw:
        return ""
    return " ".join(raw.split())


def optional_text(raw: str | None) -> str | None:
    text = clean(raw)
    return text or None


def name(raw: str | None) -> str | None:
    """A personal name, kept as sent apart from whitespace.

    Apostrophes, hyphens and accents stay exactly as written (O'Brien,
    Smith-Jones, Zoë): folding them is the matcher's job, not the importer's.
    """
    return optional_text(raw)


def parse_date(raw: str, field: str, forms: DateForms = ANY_DATE) -> date:
    text = raw.strip()
    parts = _date_parts(text, forms)
    if parts is None:
        allowed = " or ".join(label for form, label in _FORM_NAMES if form in forms)
        raise BadValue(f"{field} '{text}' is not a date written as {allowed}")
    year, month, day = parts
    try:
        return date(year, month, day)
    except ValueError:
        raise BadValue(f"{field} '{text}' is not a real date") from None


def _date_parts(text: str, forms: DateForms) -> tuple[int, int, int] | None:
    if DateForms.ISO in forms and (m := _ISO.match(text)):
        return int(m[1]), int(m[2]), int(m[3])
    if DateForms.UK in forms and (m := _UK.match(text)):
        return int(m[3]), int(m[2]), int(m[1])
    if DateForms.COMPACT in forms and (m := _COMPACT.match(text)):
        return int(m[1]), int(m[2]), int(m[3])
    return None


_GENDERS: dict[str, Gender] = {
    **dict.fromkeys(("m", "male", "boy", "man"), Gender.MALE),
    **dict.fromkeys(("f", "female", "girl", "woman"), Gender.FEMALE),
    **dict.fromkeys(("x", "o", "other", "non-binary", "nonbinary", "indeterminate"), Gender.OTHER),
    **dict.fromkeys(
        (
            "u",
            "unknown",
            "not known",
            "unspecified",
            "not specified",
            "not stated",
            "notselected",
            "not selected",
            "prefer not to say",
        ),
        Gender.UNKNOWN,
    ),
}


def parse_gender(raw: str, field: str) -> Gender:
    found = _GENDERS.get(clean(raw).casefold())
    if found is None:
        raise BadValue(
            f"{field} '{raw.strip()}' is not a gender rollsync knows "
            "(use M, F, X for other, or U for unknown)"
        )
    return found


_TRUE = frozenset(("true", "yes", "y", "1"))
_FALSE = frozenset(("false", "no", "n", "0"))


def parse_bool(raw: str, field: str) -> bool:
    text = raw.strip().casefold()
    if text in _TRUE:
        return True
    if text in _FALSE:
        return False
    raise BadValue(f"{field} '{raw.strip()}' is not yes or no (use true/false, yes/no, 1/0 or Y/N)")


def parse_positive_int(raw: str, field: str) -> int:
    text = raw.strip()
    if not text.isdigit() or int(text) < 1:
        raise BadValue(f"{field} '{text}' is not a whole number of 1 or more")
    return int(text)


def parse_upn(raw: str, field: str) -> str:
    """A UPN whose check letter is right (temporary UPNs included)."""
    try:
        return normalise_upn(raw)
    except InvalidUPN as exc:
        raise BadValue(f"{field}: {exc}") from None


def postcode(raw: str | None) -> str | None:
    """Upper case, single spaces: 'sw1a  1aa' -> 'SW1A 1AA'. Not checked further
    (a contact can live abroad)."""
    text = clean(raw).upper()
    return text or None


def year_group(raw: str | None) -> str | None:
    """'07' and '7' are the same year; letters (R, N1, N2) are kept upper-cased."""
    text = clean(raw).upper()
    if text.isdigit():
        return str(int(text))
    return text or None


_GROUP_KINDS: dict[str, GroupKind] = {kind.value: kind for kind in GroupKind}


def parse_group_kind(raw: str, field: str) -> GroupKind:
    found = _GROUP_KINDS.get(clean(raw).casefold())
    if found is None:
        raise BadValue(f"{field} '{raw.strip()}' is not one of class, registration, year, other")
    return found


_MEMBER_ROLES: dict[str, Role] = {
    "pupil": Role.PUPIL,
    "student": Role.PUPIL,
    "staff": Role.STAFF,
    "teacher": Role.STAFF,
}


def parse_member_role(raw: str, field: str) -> Role:
    found = _MEMBER_ROLES.get(clean(raw).casefold())
    if found is None:
        raise BadValue(f"{field} '{raw.strip()}' is not pupil or staff")
    return found


def parse_membership_role(raw: str, field: str) -> MembershipRole:
    text = clean(raw).casefold()
    for role in MembershipRole:
        if text == role.value:
            return role
    raise BadValue(f"{field} '{raw.strip()}' is not teacher or student")


def parse_session(raw: str, field: str) -> str:
    text = clean(raw).upper()
    if text not in ("AM", "PM"):
        raise BadValue(f"{field} '{raw.strip()}' is not AM or PM")
    return text


# DfE register codes: those in use until August 2024 and those introduced then
# (C1, C2, J1, K, Q, Y1-Y7). "-" is "all should attend / no mark yet" in SIMS.
_OLD_CODES = ("/", "\\", "B", "C", "D", "E", "F", "G", "H", "I", "J", "L", "M", "N", "O", "P")
_MORE_OLD_CODES = ("R", "S", "T", "U", "V", "W", "X", "Y", "Z", "#", "-")
_CODES_2024 = ("C1", "C2", "J1", "K", "Q", "Y1", "Y2", "Y3", "Y4", "Y5", "Y6", "Y7")
ATTENDANCE_CODES = frozenset(_OLD_CODES + _MORE_OLD_CODES + _CODES_2024)


def parse_attendance_code(raw: str, field: str) -> str:
    text = raw.strip().upper()
    if text not in ATTENDANCE_CODES:
        raise BadValue(f"{field} '{raw.strip()}' is not a DfE attendance code")
    return text
