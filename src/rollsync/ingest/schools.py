"""Whose data is this? Comparing what a file declares with the target school.

A school is named two ways in England: its URN (six digits, e.g. 100000) and
its DfE number, the LA code and establishment number (e.g. 202 and 3456, often
written 2023456, 202/3456 or 202-3456).
"""

from __future__ import annotations

import re
from enum import Enum

from rollsync.domain.state import SchoolRef

from .errors import FileRejected
from .values import ascii_digits

_SEPARATORS = re.compile(r"[\s/\-.]")


class Match(Enum):
    URN = "urn"
    DFE = "dfe"


def describe(school: SchoolRef) -> str:
    ids = f"URN {school.urn}, LA {school.la_code} establishment {school.estab}"
    return f"{school.name} ({ids})" if school.name else ids


def dfe_number(la_code: str, estab: str) -> str:
    return f"{la_code.strip():0>3}{estab.strip():0>4}"


def identifier_match(value: str, school: SchoolRef) -> Match | None:
    """Whether an org identifier names `school`, by URN or by DfE number."""
    compact = _SEPARATORS.sub("", value)
    if not compact.isdigit():
        return None
    if compact == school.urn.strip():
        return Match.URN
    if compact == dfe_number(school.la_code, school.estab):
        return Match.DFE
    return None


def same_number(a: str, b: str) -> bool:
    """'0123' and '123' name the same establishment."""
    a, b = a.strip(), b.strip()
    if ascii_digits(a) and ascii_digits(b):
        return int(a) == int(b)
    return a.casefold() == b.casefold()


def check_declared(
    school: SchoolRef,
    *,
    urn: str | None,
    la_code: str | None,
    estab: str | None,
    field: str | None = None,
) -> None:
    """Refuse the file if what it declares names another school."""
    wrong_urn = urn is not None and not same_number(urn, school.urn)
    wrong_la = la_code is not None and not same_number(la_code, school.la_code)
    wrong_estab = estab is not None and not same_number(estab, school.estab)
    if wrong_urn or wrong_la or wrong_estab:
        raise FileRejected(
            f"this file is for {declared_text(urn, la_code, estab)}, not for {describe(school)}",
            field=field,
        )


def declared_text(urn: str | None, la_code: str | None, estab: str | None) -> str:
    parts = []
    if urn is not None:
        parts.append(f"URN {urn}")
    if la_code is not None or estab is not None:
        parts.append(f"LA {la_code or '?'} establishment {estab or '?'}")
    return " / ".join(parts)
