"""New rows written in bulk (`services.bulk`, by COPY on PostgreSQL) are the rows
`bulk_create` writes: every column the same but the key and the time of the write, the
keys handed back in order, and a statement per table whatever the number of rows.
The audit log written that way keeps its events, their order and their listeners."""

from __future__ import annotations

from contextlib import nullcontext
from datetime import date, datetime
from typing import Any

import pytest
from django.core.exceptions import ValidationError
from django.db import IntegrityError, connection, models, transaction
from django.test.utils import CaptureQueriesContext
from django.utils import timezone
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from rollsync.directory import models as m
from rollsync.directory.services import audit, bulk, locks
from rollsync.directory.services.audit import AuditLog

# Columns a write fills itself: compared only for being there.
_OWN = {"id", "uid", "created_at", "updated_at", "at"}


def _rows(model: type[Any], pks: list[int]) -> list[dict[str, Any]]:
    rows = {r["id"]: r for r in model.objects.filter(pk__in=pks).values()}
    return [rows[pk] for pk in pks]


def _same(left: list[dict[str, Any]], right: list[dict[str, Any]], *, differ: set[str]) -> None:
    for a, b in zip(left, right, strict=True):
        for name in _OWN & a.keys():
            assert a[name] is not None and b[name] is not None, name
        assert {k: v for k, v in a.items() if k not in _OWN | differ} == {
            k: v for k, v in b.items() if k not in _OWN | differ
        }


def _accounts(tag: str, *, uniform: bool = False) -> list[dict[str, Any]]:
    """Five account rows; unless `uniform`, they name different columns (a row without
    a key takes the column's default), as rows from different code paths may."""
    return [
        {
            "username": f"{tag}{n}",
            "role": "pupil",
            "status": "active",
            "legal_given_name": f"Ann{n}",
            "legal_family_name": "Khan",
            "date_of_birth": date(2015, 1, 1 + n) if n % 2 else None,
            **({"gender": "F", "upn": f"A{n:012d}"} if uniform or n % 3 else {}),
        }
        for n in range(5)
    ]


@pytest.mark.parametrize("uniform", [False, True])
def test_bulk_rows_are_the_rows_bulk_create_writes(school: m.School, uniform: bool) -> None:
    start = timezone.now()
    ours = bulk.insert_rows(
        m.Account, _accounts("ours", uniform=uniform), batch_size=2, returning=True
    )
    theirs = m.Account.objects.bulk_create(
        [m.Account(**row) for row in _accounts("theirs", uniform=uniform)], batch_size=2
    )
    assert ours == sorted(ours)
    assert [a.username for a in m.Account.objects.filter(pk__in=ours).order_by("pk")] == [
        f"ours{n}" for n in range(5)
    ]
    _same(_rows(m.Account, ours), _rows(m.Account, [a.pk for a in theirs]), differ={"username"})
    created = m.Account.objects.get(pk=ours[0])
    assert start <= created.created_at <= timezone.now()
    assert created.uid != m.Account.objects.get(pk=ours[1]).uid

    now = timezone.now()

    def places(ids: list[int], tag: str) -> list[dict[str, Any]]:
        return [
            {
                "account_id": pk,
                "school": school,
                "role": "pupil",
                "status": "active",
                "mis_id": f"{tag}{n}",
                "start_date": date(2026, 9, 1),
                "last_move_or_create_at": now,
            }
            for n, pk in enumerate(ids)
        ]

    bulk.insert_rows(m.Allocation, places(ours, "M"), batch_size=1000)
    m.Allocation.objects.bulk_create(
        [m.Allocation(**row) for row in places([a.pk for a in theirs], "T")], batch_size=1000
    )
    by_account = {al.account.pk: al for al in m.Allocation.objects.select_related("account")}
    _same(
        [m.Allocation.objects.filter(pk=by_account[pk].pk).values()[0] for pk in ours],
        [m.Allocation.objects.filter(pk=by_account[a.pk].pk).values()[0] for a in theirs],
        differ={"account_id", "mis_id"},
    )

    links = [
        m.ContactLink(school=school, contact_id=ours[0], pupil_id=pk, priority=1) for pk in ours[1:]
    ]
    bulk.insert_objects(links, batch_size=1000)
    assert all(not link._state.adding for link in links)
    assert sorted(
        m.ContactLink.objects.values_list(
            "contact_id", "pupil_id", "priority", "parental_responsibility", "ended_at"
        )
    ) == [(ours[0], pk, 1, False, None) for pk in ours[1:]]


def test_bulk_rows_are_one_statement_per_table(school: m.School) -> None:
    rows = [
        {"username": f"u{n}", "role": "staff", "legal_given_name": "A", "legal_family_name": "B"}
        for n in range(2500)
    ]
    with CaptureQueriesContext(connection) as queries:
        keys = bulk.insert_rows(m.Account, rows, batch_size=1000, returning=True)
    assert len(keys) == 2500
    # a sequence read and a COPY on PostgreSQL (SQLite: bulk_create's INSERTs, as before)
    assert len(queries.captured_queries) == 2 or not bulk.copying()
    group = m.Group.objects.create(school=school, mis_id="G1", name="7A", kind="class")
    with CaptureQueriesContext(connection) as queries:
        bulk.insert_rows(
            m.GroupMembership,
            [{"group_id": group.pk, "account_id": pk, "role": "pupil"} for pk in keys],
            batch_size=1000,
        )
    assert len(queries.captured_queries) == 1 or not bulk.copying()
    assert m.GroupMembership.objects.filter(group=group, ended_at=None).count() == 2500


def test_a_value_that_cannot_be_written_fails_before_anything_is_sent(school: m.School) -> None:
    """Every row is made before the COPY starts (a COPY under way holds the server
    waiting for rows): a bad value fails with no statement sent, and nothing written."""
    rows = [*_accounts("ok"), {**_accounts("bad")[0], "date_of_birth": "2015-02-31"}]
    with (
        CaptureQueriesContext(connection) as queries,
        pytest.raises(ValidationError),
        transaction.atomic(),
    ):
        bulk.insert_rows(m.Account, rows, batch_size=1000)
    assert [q["sql"] for q in queries.captured_queries if "directory_account" in q["sql"]] == []
    assert m.Account.objects.count() == 0


def test_an_audit_log_keeps_its_events_in_order_and_tells_its_listeners(
    school: m.School,
) -> None:
    heard: list[tuple[str, Any, datetime | None]] = []

    def listener(events: list[m.AuditEvent]) -> None:
        heard.extend((e.action, e.changes, e.at) for e in events)

    audit._LISTENERS.append(listener)
    try:
        log = AuditLog(actor="t", school=school)
        for n in range(3):
            log.add(
                "membership_added",
                f"event {n}",
                changes={"group": "G1", "n": n, "on": date(2026, 9, n + 1)},
            )
        assert log.flush() == 3
    finally:
        audit._LISTENERS.remove(listener)
    events = list(
        m.AuditEvent.objects.filter(actor="t")
        .order_by("pk")
        .values("action", "reason", "changes", "at")
    )
    assert [e["reason"] for e in events] == ["event 0", "event 1", "event 2"]
    assert [e["changes"] for e in events] == [
        {"group": "G1", "n": n, "on": f"2026-09-0{n + 1}"} for n in range(3)
    ]
    assert [e["at"] for e in events] == sorted(e["at"] for e in events)
    # the listener had each event as written, its time too
    assert heard == [(e["action"], e["changes"], e["at"]) for e in events]


def test_a_quiet_las_events_are_written_without_telling_its_listeners(
    school: m.School,
) -> None:
    heard: list[m.AuditEvent] = []
    audit._LISTENERS.append(heard.extend)
    try:
        with transaction.atomic():
            locks.la_lock(school=school)  # its row says nothing listens
            log = AuditLog(actor="t", school=school)
            log.add("membership_added", "quiet", changes={"group": "G1"})
            assert log.flush() == 1
    finally:
        audit._LISTENERS.remove(heard.extend)
    assert heard == []
    assert m.AuditEvent.objects.filter(reason="quiet").count() == 1


# Text COPY's own syntax could mistake for its markers: a tab, a newline, a backslash,
# the NULL marker spelt out, quotes, and letters beyond ASCII.
_AWKWARD = ["a\tb", "a\nb", "a\\b", "\\N", "'\"", "Ó Briain 🙂", ""]


def test_awkward_text_is_written_as_given(school: m.School) -> None:
    rows = [
        {
            "username": f"awk{n}",
            "role": "pupil",
            "status": "active",
            "legal_given_name": text,
            "legal_family_name": text or "X",
        }
        for n, text in enumerate(_AWKWARD)
    ]
    keys = bulk.insert_rows(m.Account, rows, batch_size=1000, returning=True)
    assert [
        (a.legal_given_name, a.legal_family_name)
        for a in m.Account.objects.filter(pk__in=keys).order_by("pk")
    ] == [(text, text or "X") for text in _AWKWARD]
    log = AuditLog(actor="t", school=school)
    for n, text in enumerate(_AWKWARD):
        log.add("account_created", text, account_id=keys[n], changes={"name": [None, text]})
    log.flush()
    assert list(
        m.AuditEvent.objects.filter(account_id__in=keys)
        .order_by("pk")
        .values_list("reason", "changes")
    ) == [(text, {"name": [None, text]}) for text in _AWKWARD]


def test_a_taken_username_fails_the_whole_write_and_keeps_nothing(school: m.School) -> None:
    bulk.insert_rows(m.Account, _accounts("dup")[:1], batch_size=1000)
    before = m.Account.objects.count()
    try:
        with transaction.atomic():
            bulk.insert_rows(m.Account, _accounts("dup"), batch_size=1000, returning=True)
    except IntegrityError:
        pass
    else:
        raise AssertionError("a taken username must fail the write")
    assert m.Account.objects.count() == before


# JSON values of every kind, nested; no NUL nor lone surrogate (jsonb refuses them,
# whichever way written). An event's changes are a dict or a list (a None would be SQL
# NULL by COPY, JSON null by bulk_create: no caller writes one).
_TEXT = st.text(
    alphabet=st.characters(blacklist_categories=("Cs",), blacklist_characters="\x00"), max_size=8
)
_JSON = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(min_value=-(2**70), max_value=2**70)
    | st.floats(allow_nan=False, allow_infinity=False)
    | _TEXT,
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(_TEXT, inner, max_size=3),
    max_leaves=10,
)


class _Kind(models.TextChoices):
    PUPIL = "pupil"


# What orjson would write otherwise than json.dumps does, written the old way: a str
# subclass, an integer beyond 64 bits, keys that are not text, a tuple.
_AWKWARD_JSON: list[Any] = [
    {"role": _Kind.PUPIL, "roles": [_Kind.PUPIL]},
    {"big": 2**70, "small": -(2**64)},
    {1: "one", None: "none", False: "no", 2.5: "x"},
    [("a", 1), ()],
    {"text": "Ó Briain 🙂 \\ \t \n \" '"},
]


def _changes_written(values: list[Any], school: m.School, tag: str) -> list[Any]:
    """Each value as an event's changes, written by `bulk.copy_rows` (COPY on
    PostgreSQL) and by `bulk_create`; both read back, in order."""
    at = timezone.now()
    if bulk.copying():
        bulk.copy_rows(
            m.AuditEvent,
            ("at", "action", "reason", "actor", "school_id", "changes"),
            [(at, "membership_added", "x", f"ours{tag}", school.pk, value) for value in values],
        )
    else:
        m.AuditEvent.objects.bulk_create(
            m.AuditEvent(
                action="membership_added", reason="x", actor=f"ours{tag}", school=school, changes=v
            )
            for v in values
        )
    m.AuditEvent.objects.bulk_create(
        m.AuditEvent(
            action="membership_added", reason="x", actor=f"theirs{tag}", school=school, changes=v
        )
        for v in values
    )

    def read(actor: str) -> list[Any]:
        return list(
            m.AuditEvent.objects.filter(actor=actor)
            .order_by("pk")
            .values_list("changes", flat=True)
        )

    ours, theirs = read(f"ours{tag}"), read(f"theirs{tag}")
    assert len(ours) == len(values)
    assert ours == theirs
    return ours


@settings(
    max_examples=60,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(
    values=st.lists(
        st.lists(_JSON, max_size=3) | st.dictionaries(_TEXT, _JSON, max_size=3),
        min_size=1,
        max_size=4,
    )
)
def test_json_written_by_copy_is_the_json_bulk_create_writes(
    school: m.School, values: list[Any]
) -> None:
    # orjson on PostgreSQL (decision 0110), json.dumps through bulk_create
    _changes_written(values, school, tag=str(m.AuditEvent.objects.count()))


def test_json_orjson_would_write_otherwise_is_written_the_old_way(school: m.School) -> None:
    assert _changes_written(_AWKWARD_JSON, school, tag="awkward") == [
        {"role": "pupil", "roles": ["pupil"]},
        {"big": 2**70, "small": -(2**64)},
        {"1": "one", "null": "none", "false": "no", "2.5": "x"},
        [["a", 1], []],
        {"text": "Ó Briain 🙂 \\ \t \n \" '"},
    ]


@pytest.mark.parametrize("value", [{"on": date(2026, 9, 1)}, [datetime(2026, 9, 1, 8, 0)]])
def test_json_json_dumps_refuses_is_refused_by_copy_too(school: m.School, value: Any) -> None:
    # orjson would write a date; json.dumps, and so bulk_create, refuses it
    for write in (
        lambda: bulk.copy_rows(
            m.AuditEvent,
            ("at", "action", "reason", "actor", "school_id", "changes"),
            [(timezone.now(), "membership_added", "x", "dated", school.pk, value)],
        ),
        lambda: m.AuditEvent.objects.bulk_create(
            [m.AuditEvent(action="membership_added", reason="x", actor="dated", changes=value)]
        ),
    ):
        with pytest.raises(TypeError), transaction.atomic():
            write()
    assert not m.AuditEvent.objects.filter(actor="dated").exists()


def test_times_are_written_as_bulk_create_writes_them(school: m.School) -> None:
    # Aware times pass as they are, a column at a time; a naive one is made aware in
    # the current time zone (with Django's warning), as bulk_create makes it.
    keys = bulk.insert_rows(
        m.Account,
        [
            {
                "username": f"t{n}",
                "role": "pupil",
                "legal_given_name": "A",
                "legal_family_name": "B",
            }
            for n in range(4)
        ],
        batch_size=1000,
        returning=True,
    )
    group = m.Group.objects.create(school=school, mis_id="G1", name="7A", kind="class")
    other = m.Group.objects.create(school=school, mis_id="G2", name="7B", kind="class")
    aware = timezone.now()
    naive = datetime(2026, 9, 1, 8, 30)

    def rows(times: list[datetime | None]) -> list[dict[str, Any]]:
        return [
            {"account_id": key, "role": "pupil", "modified_at": aware, "ended_at": at}
            for key, at in zip(keys, times, strict=True)
        ]

    for times in ([aware, aware, None, aware], [aware, naive, None, naive]):
        m.GroupMembership.objects.all().delete()
        with pytest.warns(RuntimeWarning) if naive in times else nullcontext():
            bulk.insert_rows(
                m.GroupMembership,
                [{**row, "group_id": group.pk} for row in rows(times)],
                batch_size=1000,
            )
            m.GroupMembership.objects.bulk_create(
                m.GroupMembership(**row, group=other) for row in rows(times)
            )

        def written(g: m.Group) -> list[tuple[Any, ...]]:
            return list(
                m.GroupMembership.objects.filter(group=g)
                .order_by("account_id")
                .values_list("account_id", "modified_at", "ended_at")
            )

        assert written(group) == written(other)
        assert [at for _, _, at in written(group)] == [
            timezone.make_aware(at) if at is not None and timezone.is_naive(at) else at
            for at in times
        ]


def test_rows_naming_a_column_differently_are_written_as_bulk_create_writes_them(
    school: m.School,
) -> None:
    # Some rows give the school as an object, others by its key, one not at all (the
    # column's default): each row's own way, as bulk_create takes it.
    made = {
        tag: bulk.insert_rows(
            m.Account, _accounts(tag, uniform=True), batch_size=1000, returning=True
        )
        for tag in ("M", "T")
    }

    def rows(tag: str) -> list[dict[str, Any]]:
        ways: list[dict[str, Any]] = [{"school": school}, {"school_id": school.pk}]
        return [
            {"account_id": pk, "role": "pupil", "mis_id": f"{tag}{n}", **ways[n % 2]}
            | ({"status": "future"} if n == 2 else {})
            for n, pk in enumerate(made[tag])
        ]

    bulk.insert_rows(m.Allocation, rows("M"), batch_size=1000)
    m.Allocation.objects.bulk_create([m.Allocation(**row) for row in rows("T")])

    def written(tag: str) -> list[tuple[Any, ...]]:
        return list(
            m.Allocation.objects.filter(mis_id__startswith=tag)
            .order_by("mis_id")
            .values_list("school_id", "status", "role")
        )

    assert written("M") == written("T")
    assert [s for s, _, _ in written("M")] == [school.pk] * 5
    assert [st for _, st, _ in written("M")].count("future") == 1
