"""Issue 7's corpus: one malformed input per defect (tests/safety/corpus/, written by
make_corpus.py), each synced through the real services on top of its school's day 1,
with the outcome expectations.json states. Runs on whichever database DATABASE_URL names."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from rollsync.directory import models as m
from tests.safety.directory import diff, load_baseline, run_upload, snapshot
from tests.safety.exports import Upload, school_exports

CORPUS = Path(__file__).parent / "corpus"
EXPECT: dict[str, dict[str, Any]] = json.loads(
    (CORPUS / "expectations.json").read_text(encoding="utf-8")
)
NAME_FIELDS = ("legal_given_name", "legal_family_name", "middle_names", "date_of_birth", "upn")


def _person_rows(school: m.School, key: str) -> list[Any]:
    """Everything the directory holds about the person known at `school` as `key`
    (an MIS ID, or a pupil's UPN in a CTF): account, allocations, contact links."""
    allocs = m.Allocation.objects.filter(school=school, mis_id=key) | m.Allocation.objects.filter(
        school=school, upn=key
    )
    accounts = sorted({a.account_id for a in allocs})
    assert accounts, f"no one at {school.urn} is known as {key}"
    return [
        list(m.Account.objects.filter(pk__in=accounts).order_by("pk").values()),
        list(m.Allocation.objects.filter(account_id__in=accounts).order_by("pk").values()),
        list(
            m.ContactLink.objects.filter(pupil_id__in=accounts).order_by("pk").values()
            | m.ContactLink.objects.filter(contact_id__in=accounts).order_by("pk").values()
        ),
    ]


def test_corpus_matches_the_generator(tmp_path: Path) -> None:
    """The committed files are what make_corpus.py writes (deterministic)."""
    from tests.safety.make_corpus import build

    cases = build(tmp_path)
    assert cases == EXPECT
    committed = {p.name: p.read_bytes() for p in CORPUS.iterdir() if p.name != "expectations.json"}
    assert {p.name: p.read_bytes() for p in tmp_path.iterdir()} == committed


@pytest.mark.django_db
@pytest.mark.parametrize("name", sorted(EXPECT))
def test_corpus_input(name: str) -> None:
    exp = EXPECT[name]
    ex = school_exports(exp["fmt"])
    school = load_baseline(ex)
    if exp.get("other_school"):
        load_baseline(school_exports(exp["other_school"]))
    named = exp.get("unchanged") if isinstance(exp.get("unchanged"), list) else []
    watched = {key: _person_rows(school, key) for key in named}
    elsewhere = {
        upn: list(m.Account.objects.filter(upn=upn).values())
        for upn in exp.get("unchanged_elsewhere", [])
    }
    before = snapshot()

    run = run_upload(
        school,
        Upload(name, (CORPUS / name).read_bytes(), exp["fmt"], exp["report"]),
        ex.dates[0],
    )
    after = snapshot()
    errors = [e for e in run.errors if e.get("source") != "notice"]
    changes = diff(before, after)

    unallocated = [
        pk
        for pk, row in before["allocations"].items()
        if row["status"] != "unallocated" and after["allocations"][pk]["status"] == "unallocated"
    ]
    assert len(unallocated) == exp["unallocated"], unallocated
    assert run.status in exp["status"], (run.status, run.errors[:5])
    got = {(e["row"], e["field"]) for e in errors}
    for want in exp.get("errors", []):
        assert (want["row"], want["field"]) in got, (want, errors[:8])
    if exp.get("errors_any"):
        assert errors, "the run reported no error"
    if "message_contains" in exp:
        assert any(exp["message_contains"] in e["message"].lower() for e in errors), errors
    if "message_excludes" in exp:
        assert not any(exp["message_excludes"] in e["message"] for e in errors), errors
    for key, rows in watched.items():
        assert _person_rows(school, key) == rows, (
            f"{key} changed: {rows} -> {_person_rows(school, key)}"
        )
    if exp.get("unchanged") == "all":
        assert [
            c for c in changes if not c.startswith(("attendance", "groups", "memberships"))
        ] == []
    if exp.get("unchanged") == "all_names":
        assert [c for c in changes if c.split(".")[-1].split(":")[0] in NAME_FIELDS] == []
    if exp.get("no_relations_deleted"):
        assert [c for c in changes if c.endswith("deleted")] == []
    for upn, rows in elsewhere.items():
        # The accounts that held the UPN before are exactly as they were (the record itself
        # becomes a new account whose reason says its UPN is held outside the LA).
        pks = [row["id"] for row in rows]
        assert list(m.Account.objects.filter(pk__in=pks).values()) == rows, upn
    offered = {
        c["account_id"]
        for case in m.MatchCase.objects.filter(school=school)
        for c in case.candidates
    }
    for upn in exp.get("not_offered", []):
        theirs = set(m.Account.objects.filter(upn=upn).values_list("pk", flat=True))
        assert not offered & theirs, f"the queue offers the other LA's pupil {upn}"
