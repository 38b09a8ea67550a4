"""A delta sync played the way Microsoft School Data Sync plays it over OneRoster 1.1:
a full pull of every collection (`limit=5000`), then on the next cycle
`filter=dateLastModified>'<last>'` on each, seeing who changed and who left
(`tobedeleted`), then nothing at all once nothing changed."""

from __future__ import annotations

import time
from typing import Any

import pytest

from rollsync.directory import models as m
from rollsync.downstream.oneroster.query import parse_time
from rollsync.downstream.services import downstream_client_create
from tests.downstream.oneroster import OneRoster, token_for
from tests.export.test_scope_and_delta import _students_changed
from tests.safety.directory import load_baseline, run_upload
from tests.safety.exports import Upload, school_exports

SDS_COLLECTIONS = ("orgs", "academicSessions", "users", "classes", "enrollments")


class Sds:
    """What SDS keeps of a school: every object by collection and sourcedId, and
    the newest dateLastModified it has seen (its next delta's start)."""

    def __init__(self, api: OneRoster) -> None:
        self.api = api
        self.store: dict[str, dict[str, dict[str, Any]]] = {c: {} for c in SDS_COLLECTIONS}
        self.last = ""

    def pull(self, *, delta: bool) -> dict[str, list[dict[str, Any]]]:
        seen: dict[str, list[dict[str, Any]]] = {}
        newest = self.last
        for name in SDS_COLLECTIONS:
            params: dict[str, Any] = {"offset": 0, "limit": 5000}
            if delta:
                params["filter"] = f"dateLastModified>'{self.last}'"
            items = self.api.all(name, **params)
            seen[name] = items
            for item in items:
                if item["status"] == "tobedeleted":
                    self.store[name].pop(item["sourcedId"], None)
                else:
                    self.store[name][item["sourcedId"]] = item
                if not newest or parse_time(item["dateLastModified"]) > parse_time(newest):  # type: ignore[operator]
                    newest = item["dateLastModified"]
        self.last = newest
        return seen


@pytest.mark.django_db
def test_sds_full_pull_then_deltas() -> None:
    ex = school_exports("csv")
    school = load_baseline(ex)
    client, secret = downstream_client_create(name="SDS", kind="oneroster", school=school)
    sds = Sds(OneRoster(token_for(client, secret, "roster.readonly", versions=("v1p1",)), "v1p1"))

    full = sds.pull(delta=False)
    placed = m.Allocation.objects.filter(school=school).exclude(status="unallocated")
    assert {u["sourcedId"] for u in full["users"]} == {
        str(a.account.uid) for a in placed.select_related("account")
    }
    assert all(u["status"] == "active" for u in full["users"])
    assert (
        len(full["classes"])
        == m.Group.objects.filter(school=school, ended_at__isnull=True).count()
        > 0
    )

    # The next night: one pupil leaves, another's preferred name changes.
    pupils = list(m.Allocation.objects.filter(school=school, role="pupil").order_by("mis_id"))
    leaver, renamed = pupils[0], pupils[1]
    time.sleep(0.01)  # the pull's newest change and the next run must not share a moment
    students = next(u for u in ex.uploads(1) if u.report == "students")
    run = run_upload(
        school, _students_changed(students, drop=leaver.mis_id, rename=renamed.mis_id), ex.dates[1]
    )
    assert run.status == m.SyncRun.Status.APPLIED, (run.status, run.errors, run.holds)

    delta = sds.pull(delta=True)
    users = {u["sourcedId"]: u for u in delta["users"]}
    leaver_uid, renamed_uid = str(leaver.account.uid), str(renamed.account.uid)
    assert set(users) == {leaver_uid, renamed_uid}
    assert users[leaver_uid]["status"] == "tobedeleted"
    assert users[renamed_uid]["status"] == "active"
    # 1.1 users carry no preferred name: what changed for SDS is the object's time.
    assert parse_time(users[renamed_uid]["dateLastModified"]) > parse_time(full_newest(full))  # type: ignore[operator]
    assert leaver_uid not in sds.store["users"] and renamed_uid in sds.store["users"]
    # Orgs, the school year and classes did not change: none of them comes again.
    assert delta["orgs"] == delta["academicSessions"] == delta["classes"] == []
    # The leaver stays visible to a full pull too, as tobedeleted, so a consumer that
    # missed the delta still removes them.
    assert sds.api.get(f"users/{leaver_uid}").body["user"]["status"] == "tobedeleted"

    # The leaver's enrollments end with their place: tobedeleted. The renamed pupil's
    # place changed, so theirs come again, active (re-read, harmless); nobody else's.
    def of(pulled: list[dict[str, Any]], uid: str) -> set[str]:
        return {e["sourcedId"] for e in pulled if e["user"]["sourcedId"] == uid}

    was = of(full["enrollments"], leaver_uid)
    assert was and of(delta["enrollments"], leaver_uid) == was
    assert {e["sourcedId"] for e in delta["enrollments"]} == was | of(
        full["enrollments"], renamed_uid
    )
    for e in delta["enrollments"]:
        assert e["status"] == ("tobedeleted" if e["user"]["sourcedId"] == leaver_uid else "active")
    assert not any(e["user"]["sourcedId"] == leaver_uid for e in sds.store["enrollments"].values())

    # The night after: the MIS renames one class, ends one pupil's membership of it and
    # adds another pupil to it; nothing else changes.
    groups = next(u for u in ex.uploads(1) if u.report == "groups")
    lines = groups.payload.decode("utf-8").splitlines(keepends=True)
    busy = {leaver.mis_id, renamed.mis_id}
    cls = next(line.split(",") for line in lines if ",class,pupil," in line)
    mis_id, title = cls[0], cls[1]
    members = sorted(
        line.split(",")[4]
        for line in lines
        if line.startswith(f"{mis_id},") and line.split(",")[3] == "pupil"
    )
    ending = next(x for x in members if x not in busy)
    ending_line = next(
        line for line in lines if line.startswith(f"{mis_id},") and f",pupil,{ending}," in line
    )
    joining = next(p for p in pupils[2:] if p.mis_id not in {*members, *busy})
    night3 = [
        line.replace(f"{mis_id},{title},", f"{mis_id},{title} (Art),")
        for line in lines
        if line != ending_line
    ] + [f"{mis_id},{title} (Art),class,pupil,{joining.mis_id},student\n"]
    time.sleep(0.01)
    run = run_upload(
        school,
        Upload(groups.name, "".join(night3).encode("utf-8"), groups.fmt, groups.report),
        ex.dates[1],
    )
    assert run.status == m.SyncRun.Status.APPLIED, (run.status, run.errors, run.holds)
    group = m.Group.objects.get(school=school, mis_id=mis_id)
    ended_uid = str(m.Allocation.objects.get(school=school, mis_id=ending).account.uid)
    ended_id = f"{group.pk}-{ended_uid}-student"
    added_id = f"{group.pk}-{joining.account.uid}-student"
    assert ended_id in sds.store["enrollments"] and added_id not in sds.store["enrollments"]

    third = sds.pull(delta=True)
    assert [(c["sourcedId"], c["title"]) for c in third["classes"]] == [
        (str(group.pk), f"{title} (Art)")
    ]
    assert {e["sourcedId"]: e["status"] for e in third["enrollments"]} == {
        ended_id: "tobedeleted",
        added_id: "active",
    }
    assert third["orgs"] == third["academicSessions"] == third["users"] == []
    assert ended_id not in sds.store["enrollments"] and added_id in sds.store["enrollments"]
    assert sds.store["classes"][str(group.pk)]["title"] == f"{title} (Art)"
    # Nothing changed since: an empty delta everywhere.
    again = sds.pull(delta=True)
    assert all(items == [] for items in again.values()), {k: len(v) for k, v in again.items()}


def full_newest(pulled: dict[str, list[dict[str, Any]]]) -> str:
    return max((i["dateLastModified"] for items in pulled.values() for i in items), key=parse_time)  # type: ignore[arg-type,return-value]


@pytest.mark.django_db
def test_a_class_the_mis_stops_sending_is_tobedeleted_with_its_enrollments() -> None:
    ex = school_exports("csv")
    school = load_baseline(ex)
    client, secret = downstream_client_create(name="SDS", kind="oneroster", school=school)
    api = OneRoster(token_for(client, secret, "roster.readonly"))
    before = {c["sourcedId"]: c for c in api.all("classes")}
    gone = m.Group.objects.get(school=school, mis_id="10003")
    assert str(gone.pk) in before and all(c["status"] == "active" for c in before.values())
    members = {
        e["sourcedId"] for e in api.all("enrollments") if e["class"]["sourcedId"] == str(gone.pk)
    }
    assert members
    time.sleep(0.01)
    groups = next(u for u in ex.uploads(1) if u.report == "groups")
    kept = [
        line
        for line in groups.payload.decode("utf-8").splitlines(keepends=True)
        if not line.startswith("10003,")
    ]
    run = run_upload(
        school,
        Upload(groups.name, "".join(kept).encode("utf-8"), groups.fmt, groups.report),
        ex.dates[1],
    )
    assert run.status == m.SyncRun.Status.APPLIED, (run.status, run.errors, run.holds)
    gone.refresh_from_db()
    assert gone.ended_at is not None

    after = {c["sourcedId"]: c for c in api.all("classes")}
    assert set(after) == set(before)
    assert after[str(gone.pk)]["status"] == "tobedeleted"
    assert parse_time(after[str(gone.pk)]["dateLastModified"]) == gone.ended_at.replace(
        microsecond=gone.ended_at.microsecond // 1000 * 1000
    )
    assert [c for c, o in after.items() if o["status"] != "active"] == [str(gone.pk)]
    ended = {
        e["sourcedId"]: e["status"]
        for e in api.all("enrollments")
        if e["class"]["sourcedId"] == str(gone.pk)
    }
    assert ended == dict.fromkeys(members, "tobedeleted")
    # Asked for what changed since before the run: the ended class is in it.
    since = max(c["dateLastModified"] for c in before.values())
    delta = api.all("classes", filter=f"dateLastModified>'{since}'")
    assert str(gone.pk) in {c["sourcedId"] for c in delta}
