"""Subjects from the project's canonical records (`rollsync.domain.records`)."""

from __future__ import annotations

from collections.abc import Hashable, Iterable

from rollsync.domain.records import PersonRecord
from rollsync.matching.subject import Subject, frozen


def subject_from_record(
    record: PersonRecord,
    id: Hashable | None = None,
    *,
    household: Iterable[str] = (),
    children: Iterable[str] = (),
) -> Subject:
    """A record as the engine compares it (its id defaults to its (role, MIS ID))."""
    return Subject(
        id=record.key if id is None else id,
        given=record.legal_given_name,
        family=record.legal_family_name,
        role=record.role.value,
        preferred_given=record.preferred_given_name,
        preferred_family=record.preferred_family_name,
        middle=record.middle_names,
        dob=record.date_of_birth,
        gender=record.gender.value if record.gender is not None else None,
        upn=record.upn,
        postcodes=(record.postcode,) if record.postcode else (),
        addresses=(record.address,) if record.address else (),
        emails=(record.email,) if record.email else (),
        phones=(record.phone,) if record.phone else (),
        household=frozen(household),
        children=frozen(children),
    )
