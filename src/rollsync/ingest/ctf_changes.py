"""A CTF read in part: which <Pupil> elements of a later export to read, against an
earlier export of the same school whose plan the directory stands on.

A CTF is one <Pupil> element per pupil, their contacts inside it. A <Pupil> whose bytes
are exactly those of one in the earlier file, in the same surroundings, is read as it
was read then; the earlier read's listing (`CtfListing`, kept with its run) says what
that was: the pupil's MIS ID and the contacts the element links, or that it must be read
again. Only the other elements are parsed (`ctf.CtfReader.parse_changed`), in a copy of
the file without the ones left out (`Split.without`).

Cutting an XML file without parsing it is safe only where no `<` can be anything but a
tag. So a file is split only when it has no comment, CDATA section, DOCTYPE or
processing instruction (bar the XML declaration), its pupils are written `<Pupil>` and
`</Pupil>` exactly, one after another with only XML white space between, no other tag
is named Pupil (with a prefix, attributes or white space), and an element named Header is read whole before them (the
reader takes any element of either name: the first Header is the file's, any other is
then a part of its pupil). Anything else is read in full. An element left out is well-formed and
read as before: its bytes parsed so, in the same elements' start tags (and so the same
namespaces) and under the same XML declaration (`Split.context`).
"""

from __future__ import annotations

import re
import zlib
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from typing import NamedTuple

from rollsync.domain.records import Role

_OPEN = b"<Pupil>"
_CLOSE = b"</Pupil>"
_XML_SPACE = b" \t\r\n"
_BOM = b"\xef\xbb\xbf"
# The encodings in which every byte below 0x80 is that ASCII character: a `<` byte is
# a `<`, so the file can be cut at bytes.
_BYTE_SAFE = frozenset(
    {"utf-8", "utf8", "us-ascii", "ascii", "iso-8859-1", "latin-1", "latin1", "windows-1252"}
    | {"cp1252"}
)
_DECLARED = re.compile(rb"\s*<\?xml[^>]*?\bencoding\s*=\s*[\"']([^\"']*)[\"']", re.ASCII)
# A start or end tag (attribute values may hold `>`), or the XML declaration.
_TAG = re.compile(rb"<(/?)([^\s/>]+)((?:[^\"'>]|\"[^\"]*\"|'[^']*')*)>")

# "Pupil" where it ends a name: the literal first, so the search runs at C speed.
_PUPIL_WORD = re.compile(rb"Pupil(?=[\s/>])")
_TAG_MARKS = frozenset(b"</:")

_LISTING_VERSION = "rollsync ctf listing 1"


@dataclass(frozen=True, slots=True)
class Split:
    """A CTF cut at its pupils: `head` (up to the first `<Pupil>`), each `<Pupil>`'s
    content in file order, and `tail` (after the last `</Pupil>`). `context`: the
    prolog and the start tags of the elements open around the pupils."""

    head: bytes
    bodies: list[bytes]
    tail: bytes
    context: bytes

    def without(self, kept: Iterable[int]) -> bytes:
        """The file with only the pupils at `kept` (0-based positions, in order)."""
        bodies = self.bodies
        return b"".join((self.head, *(_OPEN + bodies[i] + _CLOSE for i in kept), self.tail))


def split_pupils(data: bytes) -> Split | None:
    """`data` (bytes as `ctf.as_parseable` makes them) cut at its pupils, or None when
    it cannot be cut safely (the module's rules). Each test is one pass of a C scan
    (a 5,000-pupil file is 12 MB): a one-byte needle first, where it can be."""
    if b"!" in data and b"<!" in data:
        return None  # a comment, CDATA section or DOCTYPE
    declared = _declaration_end(data)
    if data.find(b"?", declared) != -1 and data.find(b"<?", declared) != -1:
        return None  # a processing instruction
    pieces = data.split(_OPEN)
    count = len(pieces) - 1
    if count == 0 or not _plain_pupil_tags(data, count):
        return None
    # Every tag named Pupil is an `_OPEN` or the `_CLOSE` each piece must then end with.
    bodies: list[bytes] = []
    for piece in pieces[1:-1]:
        end = piece.rstrip(_XML_SPACE)
        if not end.endswith(_CLOSE):
            return None
        bodies.append(end[: -len(_CLOSE)])
    body, close, tail = pieces[-1].partition(_CLOSE)
    if not close:
        return None
    bodies.append(body)
    context = _context(pieces[0])
    if context is None:
        return None
    return Split(pieces[0], bodies, tail, context)


def _plain_pupil_tags(data: bytes, count: int) -> bool:
    """Whether every "Pupil" that may name an element (after a `<`, `/` or `:`, before
    white space, `/` or `>`) is in an `_OPEN` or a `_CLOSE`, and there are `count` of
    each. "Pupil" in a value ("Hillside Pupil Referral Unit") or in a longer name
    (`<PupilPremium>`) names no element the reader takes."""
    if data.count(b"Pupil") == 2 * count:
        return True  # (most files: no "Pupil" but the `count` of each; one C count)
    tags = 0
    for found in _PUPIL_WORD.finditer(data):
        at = found.start()
        if at == 0 or data[at - 1] not in _TAG_MARKS:
            continue
        if data[at - 1 : at + 6] != _OPEN and data[at - 2 : at + 6] != _CLOSE:
            return False  # `<Pupil id="1">`, `<c:Pupil>`, `</Pupil >`, `<Pupil/>`
        tags += 1
    return tags == 2 * count


def _declaration_end(data: bytes) -> int:
    """Where the XML declaration ends (0: there is none)."""
    start = data[:64].removeprefix(_BOM).lstrip(_XML_SPACE)  # (not a copy of the file)
    if not start.startswith(b"<?xml"):
        return 0
    end = data.find(b"?>")
    return end + 2 if end != -1 else 0


def _context(head: bytes) -> bytes | None:
    """The prolog and the start tags open at the end of `head`, or None when its
    encoding is not one the file may be cut in, its tags do not nest, or no element
    named Header was read whole before the pupils (the reader takes the first element
    of that name for the file's header: any other, a pupil's own, is then read as a
    part of the pupil, the same wherever the pupil stands)."""
    declared = _DECLARED.match(head.removeprefix(_BOM))
    if declared and declared.group(1).decode("ascii", "replace").lower() not in _BYTE_SAFE:
        return None
    prolog_end: int | None = None
    open_tags: list[tuple[bytes, bytes]] = []
    header_read = False
    for tag in _TAG.finditer(head):
        closing, name, rest = tag.group(1), tag.group(2), tag.group(3)
        if name.startswith(b"?"):
            continue  # the XML declaration
        if prolog_end is None:
            prolog_end = tag.start()
        local = name.rpartition(b":")[2]
        if closing:
            if not open_tags or open_tags[-1][0] != name:
                return None
            open_tags.pop()
            header_read = header_read or local == b"Header"
        elif not rest.endswith(b"/"):
            open_tags.append((name, tag.group(0)))
        else:
            header_read = header_read or local == b"Header"
    if prolog_end is None or not open_tags or not header_read:
        return None
    return head[:prolog_end] + b"".join(whole for _, whole in open_tags)


def matched(earlier: Split, later: Split) -> dict[int, int]:
    """Later position -> earlier position of each pupil whose bytes occur exactly once
    in each file (0-based). A repeated element is read again wherever it stands."""
    before = _once(earlier.bodies)
    return {
        after: found
        for body, after in _once(later.bodies).items()
        if (found := before.get(body)) is not None
    }


def _once(bodies: list[bytes]) -> dict[bytes, int]:
    position: dict[bytes, int] = {}
    twice: set[bytes] = set()
    for n, body in enumerate(bodies):
        if body in position:
            twice.add(body)
        else:
            position[body] = n
    for body in twice:
        del position[body]
    return position


Key = tuple[Role, str]


class Element(NamedTuple):
    """What a read made of one <Pupil>: the MIS ID of the pupil it named ("" for none)
    and of each contact it links, in order; `kept` when the pupil and each such contact
    were kept and nothing on the element was reported (else a later read reads it
    again, whatever its bytes)."""

    kept: bool
    pupil: str
    contacts: tuple[str, ...]


def named(element: Element) -> Iterator[Key]:
    """The (role, MIS ID) of the pupil and of each contact `element` names."""
    if element.pupil:
        yield (Role.PUPIL, element.pupil)
    for contact in element.contacts:
        yield (Role.CONTACT, contact)


@dataclass(frozen=True, slots=True)
class CtfListing:
    """What a read of a CTF made of each <Pupil>, in file order (`Element`): kept with
    the run that applied it, for the next read in part."""

    elements: tuple[Element, ...]

    def encode(self) -> bytes:
        """Compressed text, a line per element: kept (0 or 1), the pupil and the
        contacts, split by tabs. No MIS ID holds a tab or a line end (`values.check_text`
        refuses control characters), and the text splits at C speed: a 5,000-pupil
        school's listing read in 3 ms where JSON took 11."""
        lines = [_LISTING_VERSION]
        lines.extend(
            "\t".join(("1" if e.kept else "0", e.pupil, *e.contacts)) for e in self.elements
        )
        return zlib.compress("\n".join(lines).encode(), 1)

    @classmethod
    def decode(cls, data: bytes | None) -> CtfListing | None:
        """The listing in `data`, or None when there is none this reader can use."""
        if not data:
            return None
        try:
            version, *lines = zlib.decompress(data).decode().split("\n")
        except (zlib.error, UnicodeDecodeError):
            return None
        if version != _LISTING_VERSION:
            return None
        elements: list[Element] = []
        for line in lines:
            kept, *named_ = line.split("\t")
            if kept not in ("0", "1") or not named_ or "" in named_[1:]:
                return None
            pupil, *contacts = named_
            elements.append(Element(kept == "1", pupil, tuple(contacts)))
        return cls(tuple(elements))


class PartPlan:
    """Which pupils of the later file to read: every one not `matched`, or matched to an
    element the earlier read did not keep whole; those `refused_rows` or `also` name;
    every one naming a person an earlier element not left out named; every one of a
    person whose first element left out (the one a read takes their record from) was
    not their first in the earlier file; as reads find them (`closure`), every one
    naming a person an element read names; and, each time, every element naming anyone
    an element so added names (`_drop`). Left out: the rest, each as the earlier read
    made it."""

    def __init__(
        self,
        count: int,
        left_out: dict[int, Element],
        pairs: dict[int, int],
        first_before: dict[Key, int],
    ) -> None:
        self.count = count
        self.left_out = left_out  # later position -> the earlier read's element
        self._pairs = pairs
        self._first_before = first_before
        # key -> the later positions left out that name it, in order
        by_key: dict[Key, list[int]] = {}
        for after in sorted(left_out):
            element = left_out[after]
            if element.pupil:
                by_key.setdefault((Role.PUPIL, element.pupil), []).append(after)
            for contact in element.contacts:
                by_key.setdefault((Role.CONTACT, contact), []).append(after)
        self.by_key = by_key

    @classmethod
    def make(
        cls,
        *,
        earlier: Split,
        later: Split,
        listing: CtfListing,
        refused_rows: Iterable[int],
        also: Iterable[str],
    ) -> PartPlan | None:
        """None when the listing is not of `earlier` (another count of pupils), or the
        pupils stand in other surroundings (`Split.context`): no element compares."""
        elements = listing.elements
        if len(elements) != len(earlier.bodies) or earlier.context != later.context:
            return None
        pairs = matched(earlier, later)
        again = {row - 1 for row in refused_rows}
        left_out = {
            after: elements[before]
            for after, before in pairs.items()
            if elements[before].kept and before not in again
        }
        # Each person's first element, by a dict built backwards (the last value wins).
        backwards = list(enumerate(elements))[::-1]
        first_before: dict[Key, int] = {(Role.PUPIL, e.pupil): n for n, e in backwards if e.pupil}
        first_before.update(((Role.CONTACT, c), n) for n, e in backwards for c in e.contacts)
        plan = cls(len(later.bodies), left_out, pairs, first_before)
        wanted = frozenset(also)
        plan._drop(key for key in plan.by_key if key[1] in wanted)
        # Whoever an earlier element not left out named (a pupil gone, a contact a
        # changed pupil no longer links): the whole plan ends a link there, so both
        # its ends are read (`planning.partial`, rule 4).
        kept_before = {pairs[after] for after in plan.left_out}
        plan._drop(
            key
            for before, element in enumerate(elements)
            if before not in kept_before
            for key in named(element)
        )
        # Each group left is whole (`_drop` takes a person's every element): one pass.
        plan._drop(plan._moved(plan.by_key))
        return plan

    def _moved(self, keys: Iterable[Key]) -> list[Key]:
        """Those of `keys` whose first element left out was not their first before."""
        by_key, pairs, first = self.by_key, self._pairs, self._first_before
        return [k for k in keys if k in by_key and pairs[by_key[k][0]] != first[k]]

    def _drop(self, keys: Iterable[Key]) -> bool:
        """Read every element left out that names one of `keys`, and every element left
        out that names anyone those name, and so on (an element read may no longer link
        whom it linked: the whole plan would end that link, so its other end is read
        too, `planning.partial` rule 4); True when any."""
        work = [key for key in keys if key in self.by_key]
        dropped = bool(work)
        while work:
            positions = self.by_key.pop(work.pop(), ())
            for after in positions:
                element = self.left_out.pop(after, None)
                if element is not None:
                    work.extend(key for key in named(element) if key in self.by_key)
        return dropped

    def built(self) -> list[int]:
        """The later positions to read, in order."""
        return [n for n in range(self.count) if n not in self.left_out]

    def closure(self, touched: Iterable[Key]) -> bool:
        """Read also every element left out that names a person of `touched` (what the
        elements read named); True when that adds any."""
        return self._drop(touched)

    def unchanged_keys(self) -> list[Key]:
        return list(self.by_key)

    def names_contacts(self) -> bool:
        """Whether any element left out links a contact."""
        return any(element.contacts for element in self.left_out.values())

    def listing(self, read: dict[int, Element]) -> CtfListing:
        """The later file's listing: the elements read (`read`, by position) as this
        read made them, those left out as the earlier read did."""
        left_out = self.left_out
        return CtfListing(
            tuple(left_out[n] if n in left_out else read[n] for n in range(self.count))
        )
