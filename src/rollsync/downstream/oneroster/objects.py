"""OneRoster REST objects (1.1 and 1.2 JSON bindings) from the rows of rollsync's
OneRoster 1.2 CSV export, so one mapping (`rollsync.export.oneroster`) serves the
CSV bundle and the REST provider alike. Pure Python.

Two bundles come in: a bulk one (orgs, academic sessions, courses, classes,
enrollments: what is live now) and one written as a delta from the beginning of
time (users, roles, demographics: everyone placed now as `active`, and everyone who
lost their place as `tobedeleted`, each with the time it last changed). Every other
object carries when it last changed itself (`Bundles.modified`, `org_modified`,
`ended_at`; an academic session its first day), so a delta holds only what changed;
an object whose time is not known carries the time it was built (a consumer re-reads
it; it never misses a change)."""

from __future__ import annotations

import csv
import io
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

Obj = dict[str, Any]
EPOCH = "1970-01-01T00:00:00.000Z"

# Collection -> (object kind, key of a list, key of one object).
COLLECTIONS: dict[str, tuple[str, str, str]] = {
    "orgs": ("org", "orgs", "org"),
    "schools": ("org", "orgs", "org"),
    "academicSessions": ("academicSession", "academicSessions", "academicSession"),
    "terms": ("academicSession", "academicSessions", "academicSession"),
    "gradingPeriods": ("academicSession", "academicSessions", "academicSession"),
    "users": ("user", "users", "user"),
    "students": ("user", "users", "user"),
    "teachers": ("user", "users", "user"),
    "courses": ("course", "courses", "course"),
    "classes": ("class", "classes", "class"),
    "enrollments": ("enrollment", "enrollments", "enrollment"),
    "demographics": ("demographics", "demographics", "demographics"),
}
# Where a reference of each kind points (GUIDRef `href` and `type`).
_REF_COLLECTION = {
    "org": "orgs",
    "academicSession": "academicSessions",
    "user": "users",
    "course": "courses",
    "class": "classes",
}
_DEMOGRAPHIC_FLAGS = (
    "americanIndianOrAlaskaNative", "asian", "blackOrAfricanAmerican",
    "nativeHawaiianOrOtherPacificIslander", "white", "demographicRaceTwoOrMoreRaces",
    "hispanicOrLatinoEthnicity",
)  # fmt: skip
# Every field each object kind may carry, per version (what `fields`, `sort` and
# `filter` may name), in the order the binding lists them. Only users differ.
_SHARED_FIELDS: dict[str, tuple[str, ...]] = {
    "org": (
        "sourcedId",
        "status",
        "dateLastModified",
        "name",
        "type",
        "identifier",
        "parent",
        "children",
    ),
    "academicSession": (
        "sourcedId",
        "status",
        "dateLastModified",
        "title",
        "startDate",
        "endDate",
        "type",
        "parent",
        "children",
        "schoolYear",
    ),
    "course": (
        "sourcedId",
        "status",
        "dateLastModified",
        "title",
        "schoolYear",
        "courseCode",
        "grades",
        "subjects",
        "org",
    ),
    "class": (
        "sourcedId",
        "status",
        "dateLastModified",
        "title",
        "classCode",
        "classType",
        "location",
        "grades",
        "subjects",
        "course",
        "school",
        "terms",
    ),
    "enrollment": (
        "sourcedId",
        "status",
        "dateLastModified",
        "user",
        "class",
        "school",
        "role",
        "primary",
        "beginDate",
        "endDate",
    ),
    "demographics": (
        "sourcedId",
        "status",
        "dateLastModified",
        "birthDate",
        "sex",
        *_DEMOGRAPHIC_FLAGS,
        "countryOfBirthCode",
        "stateOfBirthAbbreviation",
        "cityOfBirth",
        "publicSchoolResidenceStatus",
    ),
}
FIELDS: dict[str, dict[str, tuple[str, ...]]] = {
    "v1p2": _SHARED_FIELDS | {
        "user": ("sourcedId", "status", "dateLastModified", "userMasterIdentifier", "username",
                 "userIds", "enabledUser", "givenName", "familyName", "middleName",
                 "preferredFirstName", "preferredMiddleName", "preferredLastName", "roles",
                 "identifier", "email", "sms", "phone", "agents", "grades", "primaryOrg"),
    },
    "v1p1": _SHARED_FIELDS | {
        "user": ("sourcedId", "status", "dateLastModified", "username", "userIds",
                 "enabledUser", "givenName", "familyName", "middleName", "role", "identifier",
                 "email", "sms", "phone", "agents", "orgs", "grades"),
    },
}  # fmt: skip


def rows(data: bytes | None) -> list[dict[str, str]]:
    if not data:
        return []
    return list(csv.DictReader(io.StringIO(data.decode("utf-8"))))


def _list(value: str) -> list[str]:
    return [v.strip() for v in value.split(",") if v.strip()]


def _user_ids(value: str) -> list[Obj]:
    """`{UPN:A123}` in the CSV -> [{"type": "UPN", "identifier": "A123"}]."""
    out = []
    for part in _list(value):
        kind, _, ident = part.strip("{}").partition(":")
        out.append({"type": kind, "identifier": ident})
    return out


def _clean(obj: Obj) -> Obj:
    """Optional fields the directory has no value for are left out."""
    return {k: v for k, v in obj.items() if v not in ("", None)}


@dataclass(frozen=True, slots=True)
class Bundles:
    bulk: dict[str, bytes]  # what is live now
    people: dict[str, bytes]  # users, roles, demographics as a delta since the epoch
    org_modified: dict[str, str]  # school org sourcedId -> when its own fields changed (ISO)
    ended: dict[str, bytes] | None = None  # classes and enrollments the MIS ended
    ended_at: dict[str, str] | None = None  # their sourcedId -> when they ended (ISO)
    # Live classes, courses and enrollments: sourcedId -> when each last changed (ISO).
    modified: dict[str, str] = field(default_factory=dict)
    built_at: str = EPOCH  # when these were read: the time of an object with none known


class Builder:
    """Every object of one version, by kind, for one caller's schools."""

    def __init__(self, bundles: Bundles, *, version: str, base_url: str) -> None:
        self.b = bundles
        self.version = version
        self.base = base_url.rstrip("/")
        self._orgs = rows(bundles.bulk.get("orgs.csv"))
        district = {o["sourcedId"]: o for o in self._orgs if o["type"] == "district"}
        modified = dict(bundles.org_modified)
        for d in district:  # an LA's org changes when any of its schools' does
            times = [t for o, t in modified.items() if o != d and self._parent(o) == d]
            modified[d] = max(times, default=EPOCH)
        self.modified = modified

    def _parent(self, org_id: str) -> str:
        return next((o["parentSourcedId"] for o in self._orgs if o["sourcedId"] == org_id), "")

    def flag(self, value: str) -> bool | str:
        """A true/false value: a JSON boolean in 1.1, the string "true" or "false" in
        1.2 (its TrueFalse enumeration, as in the CSV binding)."""
        return value == "true" if self.version == "v1p1" else value

    def ref(self, kind: str, sourced_id: str) -> Obj:
        return {
            "href": f"{self.base}/{_REF_COLLECTION[kind]}/{sourced_id}",
            "sourcedId": sourced_id,
            "type": kind,
        }

    def _stamp(self, row: dict[str, str]) -> tuple[str, str]:
        """A bulk row's status and when the object last changed (an ended row carries
        its own)."""
        status = row.get("status") or "active"
        known = row.get("dateLastModified") or self.b.modified.get(row["sourcedId"])
        return status, known or self.b.built_at

    def orgs(self) -> list[Obj]:
        children: dict[str, list[str]] = defaultdict(list)
        for o in self._orgs:
            if o["parentSourcedId"]:
                children[o["parentSourcedId"]].append(o["sourcedId"])
        out = []
        for o in self._orgs:
            status, modified = "active", self.modified.get(o["sourcedId"], EPOCH)
            obj = {
                "sourcedId": o["sourcedId"], "status": status, "dateLastModified": modified,
                "name": o["name"], "type": o["type"], "identifier": o["identifier"],
                "parent": self.ref("org", o["parentSourcedId"]) if o["parentSourcedId"] else None,
                "children": [self.ref("org", c) for c in children[o["sourcedId"]]],
            }  # fmt: skip
            out.append(_clean(obj) | {"children": obj["children"]})
        return out

    def academic_sessions(self) -> list[Obj]:
        """The school year: it changes when it begins (its first day, midnight UTC)."""
        return [
            {
                "sourcedId": s["sourcedId"],
                "status": "active",
                "dateLastModified": f"{s['startDate']}T00:00:00.000Z",
                "title": s["title"],
                "startDate": s["startDate"],
                "endDate": s["endDate"],
                "type": s["type"],
                "children": [],
                "schoolYear": s["schoolYear"],
            }
            for s in rows(self.b.bulk.get("academicSessions.csv"))
        ]

    def users(self) -> list[Obj]:
        roles: dict[str, list[dict[str, str]]] = defaultdict(list)
        for r in rows(self.b.people.get("roles.csv")):
            roles[r["userSourcedId"]].append(r)
        out = []
        for u in rows(self.b.people.get("users.csv")):
            mine = roles[u["sourcedId"]]
            if u["status"] == "active":  # a place lost is no longer one of the user's roles
                mine = [r for r in mine if r["status"] == "active"]
            base: Obj = {
                "sourcedId": u["sourcedId"], "status": u["status"],
                "dateLastModified": u["dateLastModified"], "username": u["username"],
                "userIds": _user_ids(u["userIds"]), "enabledUser": self.flag(u["enabledUser"]),
                "givenName": u["givenName"], "familyName": u["familyName"],
                "middleName": u["middleName"], "identifier": u["identifier"],
                "email": u["email"], "sms": u["sms"], "phone": u["phone"],
                "agents": [self.ref("user", a) for a in _list(u["agentSourcedIds"])],
                "grades": _list(u["grades"]),
            }  # fmt: skip
            if self.version == "v1p1":
                primary = next((r for r in mine if r["roleType"] == "primary"), None)
                role = (primary or (mine[0] if mine else {"role": "student"}))["role"]
                orgs = list(dict.fromkeys(r["orgSourcedId"] for r in mine))
                obj = base | {"role": role, "orgs": [self.ref("org", o) for o in orgs]}
            else:
                obj = base | {
                    "userMasterIdentifier": u["userMasterIdentifier"],
                    "preferredFirstName": u["preferredGivenName"],
                    "preferredMiddleName": u["preferredMiddleName"],
                    "preferredLastName": u["preferredFamilyName"],
                    "roles": [
                        _clean(
                            {
                                "roleType": r["roleType"],
                                "role": r["role"],
                                "org": self.ref("org", r["orgSourcedId"]),
                                "beginDate": r["beginDate"],
                                "endDate": r["endDate"],
                            }
                        )
                        for r in mine
                    ],
                    "primaryOrg": self.ref("org", u["primaryOrgSourcedId"])
                    if u["primaryOrgSourcedId"]
                    else None,
                }
            keep = ("agents", "grades", "userIds")
            out.append(_clean(obj) | {k: obj[k] for k in keep})
        return out

    def courses(self) -> list[Obj]:
        out = []
        for c in rows(self.b.bulk.get("courses.csv")):
            status, modified = self._stamp(c)
            obj = {
                "sourcedId": c["sourcedId"], "status": status, "dateLastModified": modified,
                # 1.2 requires a course code: the directory keeps none, so the course's id.
                "title": c["title"], "courseCode": c["courseCode"] or c["sourcedId"],
                "schoolYear": self.ref("academicSession", c["schoolYearSourcedId"]),
                "grades": _list(c["grades"]), "subjects": _list(c["subjects"]),
                "org": self.ref("org", c["orgSourcedId"]),
            }  # fmt: skip
            out.append(_clean(obj) | {"grades": obj["grades"], "subjects": obj["subjects"]})
        return out

    def _with_ended(self, name: str) -> list[dict[str, str]]:
        """The bulk file's rows, then those of the same file the MIS ended, marked
        `tobedeleted` as of when they ended (a live class holding an ended
        enrollment is not repeated)."""
        live = rows(self.b.bulk.get(name))
        ended_at = self.b.ended_at or {}
        seen = {r["sourcedId"] for r in live}
        for r in rows((self.b.ended or {}).get(name)):
            if r["sourcedId"] in ended_at and r["sourcedId"] not in seen:
                live.append(
                    r | {"status": "tobedeleted", "dateLastModified": ended_at[r["sourcedId"]]}
                )
        return live

    def classes(self) -> list[Obj]:
        out = []
        for c in self._with_ended("classes.csv"):
            status, modified = self._stamp(c)
            obj = {
                "sourcedId": c["sourcedId"], "status": status, "dateLastModified": modified,
                "title": c["title"], "classCode": c["classCode"], "classType": c["classType"],
                "location": c["location"], "grades": _list(c["grades"]),
                "subjects": _list(c["subjects"]),
                "course": self.ref("course", c["courseSourcedId"]),
                "school": self.ref("org", c["schoolSourcedId"]),
                "terms": [self.ref("academicSession", t) for t in _list(c["termSourcedIds"])],
            }  # fmt: skip
            out.append(_clean(obj) | {k: obj[k] for k in ("grades", "subjects", "terms")})
        return out

    def enrollments(self) -> list[Obj]:
        out = []
        for e in self._with_ended("enrollments.csv"):
            status, modified = self._stamp(e)
            out.append(
                _clean(
                    {
                        "sourcedId": e["sourcedId"],
                        "status": status,
                        "dateLastModified": modified,
                        "user": self.ref("user", e["userSourcedId"]),
                        "class": self.ref("class", e["classSourcedId"]),
                        "school": self.ref("org", e["schoolSourcedId"]),
                        "role": e["role"],
                        "primary": self.flag(e["primary"] or "false"),
                        "beginDate": e["beginDate"],
                        "endDate": e["endDate"],
                    }
                )
            )
        return out

    def demographics(self) -> list[Obj]:
        keys = FIELDS[self.version]["demographics"]
        return [
            _clean({k: d.get(k, "") for k in keys})
            for d in rows(self.b.people.get("demographics.csv"))
        ]

    def collection(self, name: str) -> list[Obj]:
        """Every object of a collection (`COLLECTIONS`), in a stable order."""
        if name in ("orgs", "schools"):
            found = self.orgs()
            return [o for o in found if o["type"] == "school"] if name == "schools" else found
        if name in ("academicSessions", "terms", "gradingPeriods"):
            found = self.academic_sessions()
            if name == "academicSessions":
                return found
            kind = "term" if name == "terms" else "gradingPeriod"
            return [s for s in found if s["type"] == kind]
        if name in ("users", "students", "teachers"):
            found = self.users()
            if name == "users":
                return found
            role = "student" if name == "students" else "teacher"
            return [u for u in found if _has_role(u, role)]
        return {
            "courses": self.courses,
            "classes": self.classes,
            "enrollments": self.enrollments,
            "demographics": self.demographics,
        }[name]()


def _has_role(user: Obj, role: str) -> bool:
    if "role" in user:
        return bool(user["role"] == role)
    roles: Iterable[Obj] = user.get("roles", [])
    return any(r["role"] == role for r in roles)
