"""Queries compiled once per shape and run again with new values (`directory.compiled`):
the SQL and parameters a later use runs are exactly those Django compiles for its
values, for every shape of the skip's check; the query is built once per shape; and a
value the query does not take as a parameter is refused, not silently dropped."""

from __future__ import annotations

from typing import Any

import pytest
from django.db import connection
from django.db.models import QuerySet

from rollsync.directory import compiled
from rollsync.directory import models as m
from rollsync.directory.services import settled
from rollsync.directory.services.schools import school_add

SHAPES = [
    (la_wide, attendance_read, reads)
    for la_wide in (False, True)
    for attendance_read in (False, True)
    for reads in (None, *settled.REPORT_READS.values())
]


def _typed(params: Any) -> list[tuple[type, Any]]:
    return [(type(p), p) for p in params]


@pytest.fixture
def schools(db: Any) -> list[m.School]:
    first = school_add(urn="100001", la_code="938", estab="2001", name="One", actor="t")
    other = school_add(urn="200002", la_code="939", estab="2002", name="Two", actor="t")
    return [first, other]


@pytest.mark.parametrize(("la_wide", "attendance_read", "reads"), SHAPES)
def test_the_skips_check_runs_what_django_compiles_for_its_values(
    schools: list[m.School], la_wide: bool, attendance_read: bool, reads: Any
) -> None:
    build = settled.touched_since_query(
        la_wide=la_wide, attendance_read=attendance_read, reads=reads
    )
    for school, mark in ((schools[0], 7), (schools[1], 123_456), (schools[0], 0)):
        values = {"school_id": school.pk, "mark": mark}
        if la_wide:
            values["la_id"] = school.la_id
        key = ("test", la_wide, attendance_read, reads)
        sql, params = compiled.compiled_sql(key, build, exists=True, **values)
        fresh = settled.touched_since(
            school=school,
            mark=mark,
            la_wide=la_wide,
            attendance_read=attendance_read,
            reads=reads,
        )
        want_sql, want_params = fresh.query.exists().get_compiler(connection=connection).as_sql()
        assert sql == want_sql
        assert _typed(params) == _typed(want_params)


def test_the_skips_check_answers_as_the_query_does(schools: list[m.School]) -> None:
    # Events of kinds that some shapes count and others do not (attendance recorded, a
    # group created), each after a mark of its own: every shape answers as its query,
    # and the shapes disagree, so a key that left part of the shape out would show.
    from rollsync.directory.services.audit import AuditLog

    school = schools[0]
    marks = [settled.audit_mark()]
    for kind in ("attendance_recorded", "group_created"):
        log = AuditLog(actor="t", school=school)
        log.add(kind, "an event at the school")
        log.flush()
        marks.append(settled.audit_mark())
    answers: dict[int, set[bool]] = {mark: set() for mark in marks}
    for la_wide, attendance_read, reads in SHAPES:
        for mark in marks:
            kw = {"la_wide": la_wide, "attendance_read": attendance_read, "reads": reads}
            want = settled.touched_since(school=school, mark=mark, **kw).exists()
            assert settled.touched_since_exists(school=school, mark=mark, **kw) is want, kw
            answers[mark].add(want)
    assert answers == {marks[0]: {True, False}, marks[1]: {True, False}, marks[2]: {False}}


def test_a_query_is_built_once_per_shape(schools: list[m.School]) -> None:
    built: list[dict[str, int]] = []

    def build(**values: int) -> QuerySet[m.School]:
        built.append(values)
        return m.School.objects.filter(pk=values["school_id"])

    for school in (*schools, *schools):
        assert compiled.compiled_exists(("once",), build, school_id=school.pk)
    assert not compiled.compiled_exists(("once",), build, school_id=10**9)
    assert len(built) == 1 and built[0]["school_id"] < 0  # built with a placeholder


def test_a_value_the_query_does_not_take_is_refused(schools: list[m.School]) -> None:
    def build(**values: int) -> QuerySet[m.School]:
        return m.School.objects.filter(pk=1)  # ignores the value it is given

    with pytest.raises(ValueError, match="school_id"):
        compiled.compiled_exists(("ignores",), build, school_id=schools[0].pk)
