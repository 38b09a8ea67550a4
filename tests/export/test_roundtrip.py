"""The core promise: what rollsync exports, rollsync's own importers read back into a
fresh directory as the same people, with the same memberships and contact links."""

from __future__ import annotations

import pytest

from rollsync.access.selectors import OPERATOR
from rollsync.directory import models as m
from rollsync.directory.exports import export_make
from tests.export.helpers import (
    directory_view,
    fresh_school,
    import_bundle,
    registration_groups,
    wipe_directory,
)
from tests.safety.directory import load_baseline
from tests.safety.exports import school_exports

# What each format carries of a person, beyond role, legal names and date of birth.
ONEROSTER_FIELDS = (
    "middle_names",
    "preferred_given_name",
    "preferred_family_name",
    "gender",
    "upn",
)
SDS_FIELDS = ()  # SDS has no middle or preferred names, no UPN; its sex says only M or F


@pytest.mark.django_db
@pytest.mark.parametrize("fmt", ["oneroster", "sds"])
def test_export_reads_back_as_the_same_directory(fmt: str) -> None:
    ex = school_exports("csv")
    school = load_baseline(ex)
    fields = ONEROSTER_FIELDS if fmt == "oneroster" else SDS_FIELDS
    before = directory_view(school, person_fields=fields)
    registration_before = registration_groups(school)
    assert sum(before["people"].values()) > 20 and before["memberships"] and before["links"]
    roles = {role for role, *_ in before["people"]}
    assert roles == {"pupil", "staff", "contact"}

    made = export_make(principal=OPERATOR, fmt=fmt, today=ex.dates[0], urn=ex.urn)
    wipe_directory()
    assert not m.Account.objects.exists() and not m.School.objects.exists()

    again = fresh_school(ex)
    run = import_bundle(again, made.payload, fmt, ex.dates[0])
    assert run.status == m.SyncRun.Status.APPLIED, (run.status, run.errors, run.holds)
    assert run.errors == []
    after = directory_view(again, person_fields=fields)
    assert after["people"] == before["people"]
    assert after["pupil_years"] == before["pupil_years"]
    assert after["memberships"] == before["memberships"]
    assert after["links"] == before["links"]
    if fmt == "oneroster":  # SDS has no homeroom class, so no registration group
        assert registration_groups(again) == registration_before
