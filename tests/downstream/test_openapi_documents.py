"""The repository's OneRoster OpenAPI documents are valid OpenAPI 3.0, name every
collection and field the provider serves (and no other), and the validation the
tests rely on does refuse an answer of the wrong shape."""

from __future__ import annotations

from typing import Any

import pytest
from jsonschema.exceptions import ValidationError
from openapi_spec_validator import validate as validate_spec

from rollsync.downstream.oneroster.objects import COLLECTIONS, FIELDS
from tests.downstream.oneroster import ROOTS, openapi, validate

SCHEMA_OF = {
    "org": "Org",
    "academicSession": "AcademicSession",
    "user": "User",
    "course": "Course",
    "class": "Class",
    "enrollment": "Enrollment",
    "demographics": "Demographics",
}


@pytest.mark.parametrize("version", ["v1p1", "v1p2"])
def test_the_documents_are_valid_and_match_the_provider(version: str) -> None:
    doc = openapi(version)
    validate_spec(doc)
    served = {p for p in doc["paths"]}
    root = ROOTS[version]
    assert served == {f"{root}/{c}" for c in COLLECTIONS} | {
        f"{root}/{c}/{{sourcedId}}" for c in COLLECTIONS
    }
    for kind, fields in FIELDS[version].items():
        properties = doc["components"]["schemas"][SCHEMA_OF[kind]]["properties"]
        assert set(fields) <= set(properties), (kind, set(fields) - set(properties))


USER = {
    "sourcedId": "u1",
    "status": "active",
    "dateLastModified": "2026-09-07T10:00:00.000Z",
    "username": "jbloggs.202",
    "enabledUser": "true",
    "givenName": "Jo",
    "familyName": "Bloggs",
    "roles": [
        {
            "roleType": "primary",
            "role": "student",
            "org": {"href": "http://x/orgs/1", "sourcedId": "1", "type": "org"},
        }
    ],
}


def _check(body: Any) -> None:
    validate("v1p2", "/ims/oneroster/rostering/v1p2/users/u1", 200, {}, body)


def test_the_validation_refuses_a_wrong_answer() -> None:
    _check({"user": USER})
    _check({"user": {**USER, "roles": [{**USER["roles"][0], "role": "ext:headteacher"}]}})
    for wrong in (
        {**USER, "enabledUser": True},  # 1.2 says "true"/"false"
        {**USER, "shoeSize": "9"},  # a field the binding does not name
        {k: v for k, v in USER.items() if k != "roles"},  # a required field missing
        {**USER, "status": "deleted"},
        {**USER, "dateLastModified": "yesterday"},
        {**USER, "roles": []},
        # A reference names its kind: a role's org is an org, never a user.
        {
            **USER,
            "roles": [{**USER["roles"][0], "org": {**USER["roles"][0]["org"], "type": "user"}}],
        },
        {**USER, "roles": [{**USER["roles"][0], "role": "headteacher"}]},  # not ext:…
    ):
        with pytest.raises(ValidationError):
            _check({"user": wrong})
    with pytest.raises(ValidationError):
        _check({"users": [USER]})  # a list under a one-object path
    with pytest.raises(AssertionError):
        validate("v1p2", "/ims/oneroster/rostering/v1p2/users", 418, {}, {})
    with pytest.raises(AssertionError):  # a page without X-Total-Count
        validate("v1p2", "/ims/oneroster/rostering/v1p2/users", 200, {"Link": ""}, {"users": []})
