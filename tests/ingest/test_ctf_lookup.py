"""Which element a CTF value is read from, where a file gives more than one.

The reader looks each name up among an element's direct children (the first child of a
local name wins, even when blank), under <Pupil> first and then under <BasicDetails>;
an address part, postcode or phone number is the first descendant of its name with any
text, at any depth and in any namespace. These rules are pinned here, edge by edge, so
a faster reader cannot quietly read another element than the one it always read.
"""

from __future__ import annotations

import pytest

from rollsync.domain.records import ContactLink, Gender, Role
from rollsync.ingest import parse_upload
from rollsync.ingest.ctf import contact_mis_id

from .helpers import SCHOOL, UPN_1, UPN_2, ctf_doc, where

NAMESPACES = [None, "http://www.dcsf.gov.uk/schemas/cbds"]


def parse(pupils: str, namespace: str | None = None):
    payload = ctf_doc(pupils, namespace=namespace).encode("utf-8")
    return parse_upload(payload, fmt="ctf", school=SCHOOL)


def pupil(body: str, upn: str = UPN_1) -> str:
    return f"<Pupil><UPN>{upn}</UPN><DOB>2015-02-03</DOB>{body}</Pupil>"


NAMES = "<Surname>Lee</Surname>"


@pytest.mark.parametrize("namespace", NAMESPACES)
@pytest.mark.parametrize(
    ("body", "given"),
    [
        # the first of Forename / LegalForename present under <Pupil> gives the name
        ("<LegalForename>Ann</LegalForename><Forename>Bea</Forename>", "Bea"),
        ("<LegalForename>Ann</LegalForename>", "Ann"),
        # a blank Forename hides the LegalForename beside it, not <BasicDetails>
        (
            "<Forename> </Forename><LegalForename>Ann</LegalForename>"
            "<BasicDetails><LegalForename>Cy</LegalForename></BasicDetails>",
            "Cy",
        ),
        # the first <Forename> wins even when a later one has a name
        (
            "<Forename/><Forename>Ann</Forename><BasicDetails><Forename>Di</Forename></BasicDetails>",
            "Di",
        ),
        ("<BasicDetails><Forename>  Ed   Fay </Forename></BasicDetails>", "Ed Fay"),
        # a group of values is not a value: a <Forename> holding elements is blank
        (
            "<Forename><First>Gil</First></Forename><BasicDetails><Forename>Hal</Forename>"
            "</BasicDetails>",
            "Hal",
        ),
    ],
)
def test_the_forename_read(namespace, body, given):
    batch = parse(pupil(NAMES + body), namespace)
    assert batch.errors == []
    assert [p.legal_given_name for p in batch.people] == [given]


@pytest.mark.parametrize(
    "body",
    [
        "<Forename> </Forename><LegalForename>Ann</LegalForename>",
        "<Forename/><Forename>Ann</Forename>",
        "<Forename><First>Ann</First></Forename>",
        # only the first <BasicDetails> is read
        "<BasicDetails/><BasicDetails><Forename>Gil</Forename></BasicDetails>",
    ],
)
def test_a_forename_hidden_by_a_blank_one_is_missing(body):
    batch = parse(pupil(NAMES + body))
    assert where(batch) == [(1, "Forename")]
    assert batch.errors[0].message == (
        "Forename is missing, but it is mandatory; the pupil was skipped"
    )
    assert batch.rejected_keys == {(Role.PUPIL, UPN_1)}


@pytest.mark.parametrize("namespace", NAMESPACES)
def test_optional_values_fall_back_to_basic_details(namespace):
    body = (
        "<Forename>Ann</Forename><Email> </Email><MiddleNames>Jo  Kay</MiddleNames>"
        "<BasicDetails><Email>ann@example.org</Email><MiddleNames>No</MiddleNames>"
        "<PreferredForename> Annie </PreferredForename><NCyearActual>07</NCyearActual>"
        "<Gender>f</Gender></BasicDetails><Sex> </Sex>"
    )
    [person] = parse(pupil(NAMES + body), namespace).people
    assert person.email == "ann@example.org"
    assert person.middle_names == "Jo Kay"
    assert person.preferred_given_name == "Annie"
    assert person.year_group == "7"
    assert person.gender is Gender.FEMALE


@pytest.mark.parametrize("namespace", NAMESPACES)
def test_address_parts_in_their_order_from_any_depth(namespace):
    address = (
        "<Address><AddressLines><AddressLine2>2 Lane</AddressLine2>"
        "<AddressLine1>Flat 1</AddressLine1></AddressLines>"
        "<BS7666Address><PAON> 5 </PAON><Town> </Town><Street><Street>Inner</Street></Street>"
        "</BS7666Address><Town>Hilltown</Town><Town>Not this</Town>"
        "<Postcode> </Postcode><Deep><PostCode>hl1  2ab</PostCode></Deep></Address>"
    )
    phones = (
        "<Phones><Phone><PhoneNo> </PhoneNo></Phone><Phone><PhoneNo>01234  567</PhoneNo>"
        "</Phone><PhoneNo>999</PhoneNo></Phones>"
    )
    [person] = parse(pupil(NAMES + "<Forename>Ann</Forename>" + address + phones), namespace).people
    assert person.address == "5, Inner, Hilltown, Flat 1, 2 Lane"
    assert person.postcode == "HL1 2AB"
    assert person.phone == "01234 567"


def test_an_empty_address_is_no_address_and_a_contact_takes_the_pupils_only_without_one():
    contacts = (
        "<Contacts>"
        "<Contact><Surname>Lee</Surname><Forename>Bo</Forename>"
        "<AddressAsPupil>TRUE</AddressAsPupil></Contact>"
        "<Contact><Surname>Lee</Surname><Forename>Cy</Forename><AddressAsPupil>1</AddressAsPupil>"
        "<Address><Town> </Town></Address></Contact>"
        "<Contact><Surname>Lee</Surname><Forename>Di</Forename>"
        "<AddressAsPupil>yes</AddressAsPupil></Contact>"
        "</Contacts>"
    )
    body = (
        NAMES + "<Forename>Ann</Forename><Address><Town>Hilltown</Town>"
        "<Postcode>hl1 2ab</Postcode></Address>" + contacts
    )
    people = parse(pupil(body)).people
    assert [(p.legal_given_name, p.postcode, p.address) for p in people] == [
        ("Ann", "HL1 2AB", "Hilltown"),
        ("Bo", "HL1 2AB", "Hilltown"),
        ("Cy", None, None),
        ("Di", None, None),
    ]


def test_a_contact_of_two_siblings_is_one_contact_with_two_links():
    contact = (
        "<Contacts><Contact><Order>1</Order><Surname> Lee </Surname><Forename>Bo</Forename>"
        "<Email>BO@example.org</Email><Relationship>pam</Relationship></Contact>"
        "<Contact><Order>2</Order><Surname>LEE</Surname><Forename>bo</Forename>"
        "<Email>bo@example.org </Email></Contact></Contacts>"
    )
    batch = parse(
        pupil(NAMES + "<Forename>Ann</Forename>" + contact)
        + pupil(NAMES + "<Forename>Cy</Forename>" + contact, upn=UPN_2)
    )
    bo = contact_mis_id(UPN_1, "Lee", "Bo", detail="bo@example.org")
    contacts = [p for p in batch.people if p.role is Role.CONTACT]
    assert [(c.mis_id, c.legal_family_name, c.email, c.row) for c in contacts] == [
        (bo, "Lee", "BO@example.org", 1)
    ]
    assert batch.contact_links == [
        ContactLink(bo, UPN_1, priority=1, relationship="Mother", row=1),
        ContactLink(bo, UPN_2, priority=1, relationship="Mother", row=2),
    ]
    assert where(batch) == [(1, "Contact"), (2, "Contact")]
    assert batch.errors[0].message == (
        "contact 2: bo LEE is listed twice for this pupil; the first was kept"
    )
