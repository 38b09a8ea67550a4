"""Issue 8, defect 9: a message a person reads starts with a capital letter ("This is
not a zip file"), but a message that starts with a name or an identifier keeps it."""

from __future__ import annotations

import pytest

from rollsync.domain.sentences import sentence_case
from rollsync.ingest import parse_upload

from .helpers import SCHOOL


@pytest.mark.parametrize(("fmt", "kind"), [("oneroster", "OneRoster"), ("sds", "SDS")])
def test_a_file_that_is_not_a_zip_says_so_in_a_sentence(fmt: str, kind: str) -> None:
    batch = parse_upload(b"sourcedId,name\n1,x\n", fmt=fmt, school=SCHOOL)
    [error] = batch.errors
    assert error.message == f"This is not a zip file: a {kind} upload is a zip of CSV files"


@pytest.mark.parametrize(
    ("text", "said"),
    [
        ("this is not a zip file", "This is not a zip file"),
        ("a forename and a surname are required", "A forename and a surname are required"),
        ("the zip is damaged: x", "The zip is damaged: x"),
        ("manifest.csv gives oneroster.version '9'", "manifest.csv gives oneroster.version '9'"),
        (
            "date_of_birth '31/02/2015' is not a real date",
            "date_of_birth '31/02/2015' is not a real date",
        ),
        ("jsmith.202 is active at 100001", "jsmith.202 is active at 100001"),
        ("rollsync cannot tell which to use", "rollsync cannot tell which to use"),
        ("3 existing accounts", "3 existing accounts"),
        ("", ""),
    ],
)
def test_sentence_case_leaves_names_and_identifiers_alone(text: str, said: str) -> None:
    assert sentence_case(text) == said
