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

from .errors import BadValue, DamagedValue

# Appended to the message of a bad optional value, which is dropped, not the row:
# the value is unknown, so the planner keeps what rollsync holds for it.
KEPT_WITHOUT = "the rest of the row was imported without it (rollsync keeps what it holds for it)"
SKIPPED = "the row was skipped"


class DateForms(Flag):
    """Which written forms of a date a format allows."""

    ISO = auto()  # 2015-02-28 (a time after it, as in 2015-02-28T00:00:00, is ignored)
    UK = auto()  # 28/02/2015 (day first; 1 or 2 digits for day and month)
    COMPACT = auto()  # 20150228


ANY_DATE = DateForms.ISO | DateForms.UK | DateForms.COMPACT
ISO_DATES = DateForms.ISO | DateForms.COMPACT

# ASCII digits only: `\d` would also take full-width and other scripts' digits.
_ISO = re.compile(
    r"^([0-9]{4})-([0-9]{2})-([0-9]{2})"
    r"(?:[T ]([0-9]{2}):([0-9]{2})(?::([0-9]{2})(?:\.[0-9]+)?)?(?:Z|[+-][0-9]{2}:?[0-9]{2})?)?$"
)
_UK = re.compile(r"^([0-9]{1,2})/([0-9]{1,2})/([0-9]{4})$")
_COMPACT = re.compile(r"^([0-9]{4})([0-9]{2})([0-9]{2})$")

# The years a date may fall in; a date of birth is further checked against today
# (see `collect.BatchCollector.checked`). 9999-12-31 is a placeholder, not a date.
EARLIEST_YEAR = 1900
LATEST_YEAR = 2199

# C0 and C1 control characters and DEL. Tab, line feed and carriage return are
# taken as spaces (a cell or element broken over lines); every other control
# character in a value refuses it.
_CONTROLS = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f]")
# Runs of white space that are not control characters (tab, LF and CR are).
_SPACES = re.compile(r"(?:(?![\x0b\x0c\x1c-\x1f\x85])\s)+")

_FORM_NAMES = (
    (DateForms.ISO, "YYYY-MM-DD"),
    (DateForms.UK, "DD/MM/YYYY"),
    (DateForms.COMPACT, "YYYYMMDD"),
)


_EDGE_SPACES = re.compile(
    r"^(?:(?![\x0b\x0c\x1c-\x1f\x85])\s)+|(?:(?![\x0b\x0c\x1c-\x1f\x85])\s)+$"
)


# Fast paths. In a printable string (`str.isprintable`: no control character, no
# format character, no separator but the ASCII space) the only white space is the
# space, so trimming and collapsing it is all `strip` and `clean` do there; other
# strings take the regular expressions. (tests/ingest/test_value_fast_paths.py checks
# both ways agree.)


def strip(raw: str) -> str:
    """Trim white space at both ends, as `str.strip` does, but keep control
    characters there (for `check_text` to refuse)."""
    if raw.isprintable():
        return raw.strip(" ")
    return _EDGE_SPACES.sub("", raw)


def clean(raw: str | None) -> str:
    """Trim, and collapse runs of inner whitespace to one space. Control characters
    are kept as they are, for `check_text` to refuse."""
    if not raw:
        return ""
    if raw.isprintable():
        return raw.strip(" ") if "  " not in raw else " ".join(raw.split())
    return _SPACES.sub(" ", raw).strip(" ")


# The longest cell any column may hold before it reads as damage, whatever the column
# (each stored field also has its own, shorter limit in `domain.limits`).
LONGEST_CELL = 1000

# A decimal digit (`str.isdecimal`, which is what `\d` matches) that is not 0-9.
_OTHER_DIGIT = re.compile(r"(?![0-9])\d")


def check_text(value: str, field: str, max_length: int) -> str:
    """Refuse a value holding a control character or a digit from another script, or
    longer than `max_length`: `DamagedValue`, which refuses the whole row."""
    if len(value) <= max_length and value.isascii() and value.isprintable():
        return value  # printable ASCII: no control character, only the digits 0-9
    found = _CONTROLS.search(value)
    if found is not None:
        raise DamagedValue(
            f"{field} holds a control character (U+{ord(found.group()):04X}), which no "
            "name or value may hold: the file may be damaged"
        )
    # A digit from another script (a full-width five, U+FF15) reads as the same number
    # to Python but is another ID, name or phone to everyone else: an MIS writes 0-9.
    odd_digit = _OTHER_DIGIT.search(value)
    if odd_digit is not None:
        odd = odd_digit.group()
        raise DamagedValue(
            f"{field} '{_shown(value)}' holds the digit '{odd}' (U+{ord(odd):04X}), which is "
            "not an ordinary 0-9 digit: the file may be damaged"
        )
    if len(value) > max_length:
        raise DamagedValue(
            f"{field} is {len(value):,} characters long; rollsync stores at most {max_length}"
        )
    return value


def check_cell(raw: str, field: str, max_length: int) -> None:
    """`check_text(clean(raw), ...)`: a value as written, trimmed and collapsed first.
    A printable ASCII value within `max_length` passes as it is (cleaning only
    shortens it)."""
    if len(raw) <= max_length and raw.isascii() and raw.isprintable():
        return
    check_text(clean(raw), field, max_length)


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
    text = clean(raw)
    parts = _date_parts(text, forms)
    if parts is None:
        allowed = " or ".join(label for form, label in _FORM_NAMES if form in forms)
        raise BadValue(f"{field} '{_shown(text)}' is not a date written as {allowed}")
    year, month, day = parts
    try:
        found = date(year, month, day)
    except ValueError:
        raise BadValue(f"{field} '{text}' is not a real date") from None
    if not EARLIEST_YEAR <= found.year <= LATEST_YEAR:
        raise BadValue(
            f"{field} '{text}' is not a plausible date (rollsync takes years "
            f"{EARLIEST_YEAR} to {LATEST_YEAR})"
        )
    return found


def _shown(text: str, limit: int = 40) -> str:
    """A value as a message quotes it: shortened, control characters escaped."""
    short = text if len(text) <= limit else text[:limit] + "..."
    return _CONTROLS.sub(lambda m: f"\\x{ord(m.group()):02x}", short)


def _date_parts(text: str, forms: DateForms) -> tuple[int, int, int] | None:
    if DateForms.ISO in forms and (m := _ISO.match(text)):
        hour, minute, second = (int(m[i]) if m[i] else 0 for i in (4, 5, 6))
        if hour > 23 or minute > 59 or second > 59:
            return None  # an impossible time: not a date as the format writes one
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


def ascii_digits(text: str) -> bool:
    """Whether `text` is digits 0-9 alone. `str.isdigit` is true of "²" and "①" too,
    which `int` refuses (a crash found by `./dev fuzz`), and of digits of other scripts,
    which no MIS writes (`check_text` refuses them as damage)."""
    return text.isascii() and text.isdigit()


def parse_positive_int(raw: str, field: str) -> int:
    text = raw.strip()
    if not ascii_digits(text) or int(text) < 1:
        raise BadValue(f"{field} '{text}' is not a whole number of 1 or more")
    return int(text)


def parse_upn(raw: str, field: str) -> str:
    """A UPN whose check letter is right (temporary UPNs included)."""
    try:
        return normalise_upn(raw)
    except InvalidUPN as exc:
        raise BadValue(f"{field}: {exc}") from None


_EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")


def parse_email(raw: str, field: str) -> str:
    """An email address: one @, something either side, a dot in the domain."""
    text = clean(raw)
    if not _EMAIL.match(text):
        raise BadValue(f"{field} '{_shown(text)}' is not an email address")
    return text


def postcode(raw: str | None) -> str | None:
    """Upper case, single spaces: 'sw1a  1aa' -> 'SW1A 1AA'. Not checked further
    (a contact can live abroad)."""
    text = clean(raw).upper()
    return text or None


def year_group(raw: str | None) -> str | None:
    """'07' and '7' are the same year; letters (R, N1, N2) are kept upper-cased."""
    text = clean(raw).upper()
    if ascii_digits(text):
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


_MEMBERSHIP_ROLES: dict[str, MembershipRole] = {role.value: role for role in MembershipRole}


def parse_membership_role(raw: str, field: str) -> MembershipRole:
    found = _MEMBERSHIP_ROLES.get(clean(raw).casefold())
    if found is not None:
        return found
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
