"""Comparison keys for names, contact details and dates of birth.

Names are stored as the MIS sent them; these keys exist only to compare them.
Two spellings of one name get the same key when they differ only in case,
accents, whitespace or punctuation: "Zoë O'Brien-Smith" and "zoe obrien smith"
compare equal, so an exact match survives one MIS typing a curly apostrophe
and another a straight one, or one dropping the hyphen of a double surname.
"""

from __future__ import annotations

import re
from datetime import date
from functools import lru_cache

from rollsync.matching.normalise import fold

__all__ = [
    "NameKey",
    "email_key",
    "fold",
    "name_key",
    "name_part_key",
    "phone_key",
    "spoken_name",
    "swapped_day_month",
]

_APOSTROPHES = "'’‘ʼ`´′"  # noqa: RUF001 - the typographic variants are the point
_NOT_ALNUM = re.compile(r"[^0-9a-z]+")

NameKey = tuple[str, str]  # (given, family)


@lru_cache(maxsize=65_536)
def name_part_key(name: str | None) -> str:
    """The key of one name: folded, letters and digits only."""
    return _NOT_ALNUM.sub("", fold(name or ""))


def name_key(given: str | None, family: str | None) -> NameKey:
    return (name_part_key(given), name_part_key(family))


@lru_cache(maxsize=65_536)
def spoken_name(given: str | None, family: str | None) -> str:
    """A full name for fuzzy comparison: folded words separated by single spaces.

    Apostrophes vanish ("O'Neil" -> "oneil"); hyphens and other marks separate
    words ("Smith-Jones" -> "smith jones").
    """
    words = []
    for part in (given or "", family or ""):
        folded = fold(part)
        for mark in _APOSTROPHES:
            folded = folded.replace(mark, "")
        words.append(_NOT_ALNUM.sub(" ", folded).strip())
    return " ".join(w for w in words if w)


def email_key(email: str | None) -> str | None:
    cleaned = (email or "").strip().casefold()
    return cleaned or None


def phone_key(phone: str | None) -> str | None:
    """Digits only, with a UK international prefix turned national: "+44 7700 900123" ->
    "07700900123". Too short to tell people apart -> None."""
    digits = "".join(ch for ch in (phone or "") if ch.isdigit())
    if (phone or "").lstrip().startswith("+44") or digits.startswith("0044"):
        digits = "0" + digits.removeprefix("00").removeprefix("44").lstrip("0")
    return digits if len(digits) >= 6 else None


def swapped_day_month(dob: date) -> date | None:
    """The date with day and month swapped (a common keying slip), when that is a
    different valid date: 3 April -> 4 March."""
    if dob.day > 12 or dob.day == dob.month:
        return None
    return date(dob.year, dob.day, dob.month)
