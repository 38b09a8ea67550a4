"""The malformed-input corpus (tests/corpus/ingest): one small file or bundle folder
per family of defect, each with the errors it must produce (expected.json)."""

from __future__ import annotations

import json
import pathlib
from datetime import date

import pytest

from rollsync.domain.records import Role
from rollsync.ingest import bundle_folder, parse_upload

from .helpers import SCHOOL

CORPUS = pathlib.Path(__file__).parent.parent / "corpus" / "ingest"
EXPECTED: dict[str, dict] = json.loads((CORPUS / "expected.json").read_text("utf-8"))
TODAY = date(2026, 11, 30)


def test_every_corpus_file_has_expectations_and_every_expectation_a_file():
    on_disk = {
        p.name
        for p in CORPUS.iterdir()
        if p.name not in ("expected.json", "build.py", "__init__.py", "__pycache__")
    }
    assert on_disk == set(EXPECTED)


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_corpus(name):
    spec = EXPECTED[name]
    path = CORPUS / name
    payload = bundle_folder(path) if path.is_dir() else path.read_bytes()
    batch = parse_upload(
        payload, fmt=spec["format"], school=SCHOOL, report=spec.get("report"), today=TODAY
    )
    assert batch.fatal is spec["fatal"], batch.errors
    for want in spec["errors"]:
        found = [
            e
            for e in batch.errors
            if e.row == want["row"]
            and e.field == want["field"]
            and ("source" not in want or e.source == want["source"])
            and want["contains"] in e.message
        ]
        assert found, (want, batch.errors)
    if spec["fatal"]:
        assert batch.people == [] and batch.rejected_keys == set()
        assert batch.complete_for == frozenset()
        return
    if "people" in spec:
        assert len(batch.people) == spec["people"]
    if "rejected" in spec:
        assert batch.rejected_keys == {(Role(role), mis_id) for role, mis_id in spec["rejected"]}
    if "complete_for" in spec:
        assert batch.complete_for == {Role(role) for role in spec["complete_for"]}
    if "unknown" in spec:
        assert all(set(spec["unknown"]) <= p.unknown_fields for p in batch.people)
    if "unknown_for_staff" in spec:
        staff = [p for p in batch.people if p.role is Role.STAFF]
        assert staff and all(set(spec["unknown_for_staff"]) <= p.unknown_fields for p in staff)
