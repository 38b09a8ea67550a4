"""The importers' fast paths give exactly what the regular expressions give.

`values.strip`, `values.clean`, `values.check_text` and `values.check_cell` take a
short way for printable (ASCII) values; `csvtable` reads lines without a StringIO and
keeps rows as tuples. Each is compared here with the slow way it stands for, on values
chosen to sit on every edge: white space of each kind, control characters, digits of
other scripts, lengths at the limit.
"""

from __future__ import annotations

import csv
import io
import re

import pytest
from hypothesis import given
from hypothesis import strategies as st

from rollsync.ingest import values as v
from rollsync.ingest.bundles import Bundle
from rollsync.ingest.csvtable import _lines, read_table
from rollsync.ingest.errors import BadValue

# The definitions the fast paths stand for, as they were before them.
_EDGE = re.compile(r"^(?:(?![\x0b\x0c\x1c-\x1f\x85])\s)+|(?:(?![\x0b\x0c\x1c-\x1f\x85])\s)+$")
_SPACES = re.compile(r"(?:(?![\x0b\x0c\x1c-\x1f\x85])\s)+")
_CONTROLS = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f]")


def _slow_strip(raw: str) -> str:
    return _EDGE.sub("", raw)


def _slow_clean(raw: str) -> str:
    return _SPACES.sub(" ", raw).strip(" ") if raw else ""


def _slow_check(value: str, max_length: int) -> str | None:
    """What check_text refuses for, or None."""
    if _CONTROLS.search(value):
        return "control"
    if any(c.isdecimal() and not c.isascii() for c in value):
        return "digit"
    if len(value) > max_length:
        return "length"
    return None


EDGES = [
    "",
    " ",
    "   ",
    "Smith",
    " Smith ",
    "O'Brien  Smith-Jones",
    "  two  inner   runs  ",
    "Zoë",
    " Zoë\u00a0",  # a no-break space: white space, not printable
    "\u3000Ideographic\u3000",
    "tab\there",
    "\tlead and trail\r\n",
    "line\nbreak",
    "vertical\x0btab",
    " \x0b ",
    "\x1cfile separator ",
    "next\x85line",
    "del\x7f",
    "nul\x00",
    "c1\x9f",
    "full-width \uff15",
    "arabic \u0665",
    "superscript \u00b2",  # a digit, but not decimal: allowed
    "12345",
    "x" * 40,
    "x" * 41,
    " " + "y" * 40 + " ",
    "zero\u200bwidth",  # a format character: not printable, not white space
    "\u2028separator\u2029",
]


@pytest.mark.parametrize("raw", EDGES)
def test_strip_and_clean_agree_with_the_regular_expressions(raw: str) -> None:
    assert v.strip(raw) == _slow_strip(raw)
    assert v.clean(raw) == _slow_clean(raw)


@pytest.mark.parametrize("raw", EDGES)
def test_clean_is_idempotent_so_a_cleaned_text_needs_no_second_clean(raw: str) -> None:
    """The CTF reader cleans each element's text once and takes the cleaned text, or
    None when blank, as its `name` and `optional_text` (upper-cased, its `postcode`):
    the same values only while cleaning a cleaned text changes nothing."""
    once = v.clean(raw)
    assert v.clean(once) == once
    assert v.name(raw) == v.optional_text(raw) == (once or None)
    assert v.postcode(raw) == (once.upper() or None)


@given(
    st.text(
        alphabet=st.sampled_from(
            list(" \t\n\r\x0b\x0c\x1c\x1f\x85\xa0\u2028\u3000a1\uff15\x00\x9f\u200b")
        )
    )
)
def test_clean_is_idempotent_for_any_mix_of_white_space(raw: str) -> None:
    once = v.clean(raw)
    assert v.clean(once) == once


@pytest.mark.parametrize("raw", EDGES)
@pytest.mark.parametrize("limit", [5, 40, 1000])
def test_check_text_and_check_cell_refuse_exactly_what_they_did(raw: str, limit: int) -> None:
    for value, check in ((raw, v.check_text), (raw, v.check_cell)):
        shown = _slow_clean(value) if check is v.check_cell else value
        expected = _slow_check(shown, limit)
        if expected is None:
            check(value, "field", limit)
            continue
        with pytest.raises(BadValue) as caught:
            check(value, "field", limit)
        word = {"control": "control character", "digit": "holds the digit", "length": "long"}
        assert word[expected] in caught.value.message


def test_a_digit_of_another_script_is_named_as_before() -> None:
    with pytest.raises(BadValue) as caught:
        v.check_text("ab\uff15", "upn", 100)
    assert caught.value.message == (
        "upn 'ab\uff15' holds the digit '\uff15' (U+FF15), which is not an ordinary 0-9 "
        "digit: the file may be damaged"
    )


@pytest.mark.parametrize(
    "text",
    [
        "a,b\r\nc,d\re,f\ng",
        'a,"b\r\nx"\n\n\r\r\n',
        "",
        "x",
        "\n",
        "a\x0bb\x85c\u2028d\r\n",
        "a\r",
        "a\r\r\n\n",
    ],
)
def test_lines_are_what_a_stringio_reads(text: str) -> None:
    assert list(_lines(text)) == list(io.StringIO(text, newline=""))
    as_before = csv.reader(io.StringIO(text, newline=""), strict=False)
    assert list(csv.reader(_lines(text), strict=False)) == list(as_before)


def test_rows_read_the_same_as_dicts_did() -> None:
    text = (
        "ID, Name ,,Note\r\n"
        "1, Ann ,x, plain \r\n"
        "2,\tBo\u00a0,y\r\n"  # short, with white space that is not a space
        "3,Cy,z,a,extra\r\n"  # over-long: reported, kept in misshapen
        "\r\n"
        " , ,\t, \r\n"  # blank: not a row
        "4,Di\x0b,w,n\r\n"
        " 5,Ed,v,m\r\n"  # a space only at the start of the row
        "6,Fa,u,k \r\n"  # only at its end
        "7 ,Gi,t,j\r\n"  # only before a comma
        "8,Hu,s,i\r\n"  # none
    )
    table = read_table(text.encode(), source="t.csv")
    rows = list(table)
    assert [(r.line, r.values) for r in rows] == [
        (2, {"id": "1", "name": "Ann", "note": "plain"}),
        (7, {"id": "4", "name": "Di\x0b", "note": "n"}),
        (8, {"id": "5", "name": "Ed", "note": "m"}),
        (9, {"id": "6", "name": "Fa", "note": "k"}),
        (10, {"id": "7", "name": "Gi", "note": "j"}),
        (11, {"id": "8", "name": "Hu", "note": "i"}),
    ]
    assert [(r.line, r.values) for r in table.misshapen] == [
        (3, {"id": "2", "name": "Bo", "note": ""}),
        (4, {"id": "3", "name": "Cy", "note": "a"}),
    ]
    assert rows[0].get("name") == "Ann" and rows[0].get("absent") == ""
    assert list(rows[1].items()) == [("id", "4"), ("name", "Di\x0b"), ("note", "n")]
    assert table.rows_read == 8


def test_a_bundle_member_is_taken_once() -> None:
    bundle = Bundle({"users.csv": b"x"}, "OneRoster")
    assert bundle.take("users.csv") == b"x"
    assert bundle.has("users.csv") and bundle.files == {}
    with pytest.raises(RuntimeError):
        bundle.take("users.csv")
