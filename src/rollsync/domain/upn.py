"""Unique Pupil Numbers (UPN): the DfE's 13-character national pupil ID.

Layout: check letter, 3-digit LA code, 4-digit establishment number, 2-digit
year of allocation, 3-digit serial. A temporary UPN has a letter in place of
the 13th character. The check letter is the weighted sum of characters 2-13
(weights 2..13, a letter in place 13 counting by the table below) modulo 23,
read off the alphabet without I, O and S.
"""

from __future__ import annotations

import re

CHECK_LETTERS = "ABCDEFGHJKLMNPQRTUVWXYZ"  # 23 letters: no I, O or S
_VALUE = {letter: value for value, letter in enumerate(CHECK_LETTERS)}
_SHAPE = re.compile(r"^[A-Z]\d{11}[0-9A-Z]$")


class InvalidUPN(ValueError):
    pass


def check_letter(body: str) -> str:
    """The check letter for the 12 characters that follow it."""
    if len(body) != 12 or not body[:11].isdigit():
        raise InvalidUPN("a UPN has 12 characters after its check letter, the first 11 digits")
    last = body[11]
    if last.isdigit():
        last_value = int(last)
    elif last in _VALUE:
        last_value = _VALUE[last]
    else:
        raise InvalidUPN(f"{last!r} cannot end a temporary UPN (letters I, O and S are never used)")
    total = sum(int(ch) * weight for weight, ch in enumerate(body[:11], start=2)) + last_value * 13
    return CHECK_LETTERS[total % 23]


def normalise_upn(raw: str) -> str:
    """Return the UPN upper-cased and verified, or raise InvalidUPN saying why."""
    upn = raw.strip().upper().replace(" ", "")
    if not _SHAPE.match(upn):
        raise InvalidUPN(
            f"{raw.strip()!r} is not a UPN: expected a letter, 11 digits and a digit or letter "
            "(13 characters)"
        )
    expected = check_letter(upn[1:])
    if upn[0] != expected:
        raise InvalidUPN(f"{upn} has check letter {upn[0]} but its digits give {expected}")
    return upn


def is_temporary(upn: str) -> bool:
    return upn[-1].isalpha()


def make_upn(
    la_code: str, estab: str, year: int, serial: int, *, temporary_letter: str = ""
) -> str:
    """Build a valid UPN (for the simulator and tests)."""
    body = f"{int(la_code):03d}{int(estab):04d}{year % 100:02d}"
    if temporary_letter:
        body += f"{serial % 100:02d}{temporary_letter}"
    else:
        body += f"{serial % 1000:03d}"
    return check_letter(body) + body
