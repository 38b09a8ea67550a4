"""The rules every importer shares: repeated MIS IDs, refused people, completeness."""

from __future__ import annotations

import pytest

from rollsync.domain.records import PersonRecord, Role
from rollsync.ingest.collect import BatchCollector, mandatory_for


def person(role: Role, mis_id: str, row: int = 1) -> PersonRecord:
    return PersonRecord(role, mis_id, "Ann", "Lee", row=row)


class TestRejectedKeys:
    def test_a_refused_person_is_noted_and_passed_on(self):
        out = BatchCollector("test")
        out.reject_person(Role.PUPIL, " 1001 ")
        batch = out.build(reports={"students"}, complete_for={Role.PUPIL}, complete_when_empty=True)
        assert batch.rejected_keys == {(Role.PUPIL, "1001")}
        assert batch.people == []

    @pytest.mark.parametrize("mis_id", ["", "   ", None])
    def test_no_readable_id_adds_nothing(self, mis_id):
        out = BatchCollector("test")
        out.reject_person(Role.STAFF, mis_id)
        assert out.rejected_keys == set()

    def test_a_repeated_id_is_not_a_refusal(self):
        out = BatchCollector("test")
        assert out.add_person(person(Role.PUPIL, "1", row=2), id_field="mis_id")
        assert not out.add_person(person(Role.PUPIL, "1", row=3), id_field="mis_id")
        assert out.rejected_keys == set()

    def test_someone_kept_from_another_row_is_not_rejected(self):
        # a contact with one good row and one refused row is in the list
        out = BatchCollector("test")
        out.reject_person(Role.CONTACT, "C1")
        out.add_person(person(Role.CONTACT, "C1"), id_field="mis_id")
        out.reject_person(Role.CONTACT, "C2")
        batch = out.build(
            reports={"contacts"}, complete_for={Role.CONTACT}, complete_when_empty=True
        )
        assert batch.rejected_keys == {(Role.CONTACT, "C2")}

    def test_the_same_id_in_another_role_is_another_person(self):
        out = BatchCollector("test")
        out.add_person(person(Role.PUPIL, "7"), id_field="mis_id")
        out.reject_person(Role.STAFF, "7")
        assert out.build(
            reports=set(), complete_for=set(), complete_when_empty=True
        ).rejected_keys == {(Role.STAFF, "7")}


class TestCompleteness:
    def test_the_rule_must_be_named(self):
        with pytest.raises(TypeError, match="complete_when_empty"):
            BatchCollector("test").build(reports=set(), complete_for={Role.PUPIL})  # type: ignore[call-arg]

    def test_one_full_list_of_a_role_claims_it_even_when_empty(self):
        batch = BatchCollector("test").build(
            reports={"staff"}, complete_for={Role.STAFF}, complete_when_empty=True
        )
        assert batch.complete_for == {Role.STAFF}

    def test_a_bundle_claims_only_the_roles_it_lists(self):
        out = BatchCollector("test")
        out.add_person(person(Role.PUPIL, "1"), id_field="sourcedId")
        out.reject_person(Role.CONTACT, "9")  # refused, but listed
        batch = out.build(reports=set(), complete_for=set(Role), complete_when_empty=False)
        assert batch.complete_for == {Role.PUPIL, Role.CONTACT}
        assert out.roles_listed() == {Role.PUPIL, Role.CONTACT}

    def test_nothing_claimed_is_nothing_complete(self):
        out = BatchCollector("test")
        out.add_person(person(Role.PUPIL, "1"), id_field="UPN")
        batch = out.build(reports={"students"}, complete_for=set(), complete_when_empty=True)
        assert batch.complete_for == frozenset()


def test_date_of_birth_is_mandatory_as_the_catalogue_says():
    assert mandatory_for(Role.PUPIL, "date_of_birth")
    assert not mandatory_for(Role.STAFF, "date_of_birth")
    assert not mandatory_for(Role.CONTACT, "date_of_birth")  # contacts have no such field
    assert mandatory_for(Role.STAFF, "legal_family_name")
