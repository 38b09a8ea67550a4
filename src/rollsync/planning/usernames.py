"""Usernames: `<local part>.<LA code>`, from a configurable pattern.

The work is split in two, because only the database knows which names are taken:

- the planner (pure) turns a record into a *base* local part with `username_base`
  ("Jane Smith" -> "jsmith") and puts it on the CREATE action as `username_base`;
- the apply step walks `usernames_from_base(base, la_code)` ("jsmith.202",
  "jsmith2.202", "jsmith3.202", ...) and takes the first one no account in the
  region holds, inside its transaction.

`username_candidates(pattern, record, la_code)` is the two together. A username
never changes once given, so a later name change never renames anyone.
"""

from __future__ import annotations

import re
import string
from collections.abc import Callable, Iterator
from functools import lru_cache
from itertools import count

from rollsync.domain.records import PersonRecord
from rollsync.matching.normalise import fold

DEFAULT_PATTERN = "{given_initial}{family}"
MAX_LOCAL_LENGTH = 20
FALLBACK_LOCAL_PART = "user"  # a name with no Latin letters at all

# Local parts that mail systems and people read as roles, never as a person.
RESERVED_LOCAL_PARTS = frozenset(
    {
        "abuse",
        "admin",
        "administrator",
        "help",
        "helpdesk",
        "hostmaster",
        "info",
        "mailerdaemon",
        "noc",
        "noreply",
        "nobody",
        "office",
        "postmaster",
        "root",
        "security",
        "servicedesk",
        "support",
        "sysadmin",
        "system",
        "test",
        "webmaster",
    }
)

_SEPARATORS = "._-"
_ALLOWED_LITERALS = re.compile(r"^[a-z0-9._-]*$")
_RUNS_OF_SEPARATORS = re.compile(r"([._-])[._-]+")


_NOT_ASCII_ALNUM = re.compile(r"[^a-z0-9]")


# Names repeat (a school's surnames, a year's forenames), and every first import asks
# for each new person's twice (planned, then applied): 3 µs a call uncached.
@lru_cache(maxsize=131_072)
def _ascii(text: str | None) -> str:
    """ASCII letters and digits only: "O'Brien-Núñez" -> "obriennunez"."""
    return _NOT_ASCII_ALNUM.sub("", fold(text or ""))


def _initial(text: str | None) -> str:
    return _ascii(text)[:1]


_PLACEHOLDERS: dict[str, Callable[[PersonRecord], str]] = {
    "given": lambda r: _ascii(r.legal_given_name),
    "given_initial": lambda r: _initial(r.legal_given_name),
    "family": lambda r: _ascii(r.legal_family_name),
    "family_initial": lambda r: _initial(r.legal_family_name),
    "middle_initial": lambda r: _initial(r.middle_names),
    "yy_start": lambda r: f"{r.start_date.year % 100:02d}" if r.start_date else "",
}


class InvalidPattern(ValueError):
    pass


def validate_pattern(pattern: str) -> None:
    """Raise InvalidPattern unless the pattern uses known placeholders and plain characters."""
    named = False
    for literal, field_name, spec, conversion in string.Formatter().parse(pattern):
        if not _ALLOWED_LITERALS.match(literal):
            raise InvalidPattern(
                f"{pattern!r}: outside placeholders only a-z, 0-9, '.', '_' and '-' are allowed"
            )
        if field_name is None:
            continue
        if field_name not in _PLACEHOLDERS or spec or conversion:
            raise InvalidPattern(
                f"{pattern!r}: unknown placeholder {{{field_name}}}; "
                f"known: {', '.join('{' + p + '}' for p in _PLACEHOLDERS)}"
            )
        named = named or field_name != "yy_start"
    if not named:
        raise InvalidPattern(f"{pattern!r} uses no part of the person's name")


@lru_cache(maxsize=64)
def _named(pattern: str) -> tuple[str, ...]:
    """The placeholders a valid pattern uses (checked once per pattern, not per person;
    an invalid one is refused every time, as it is not cached)."""
    validate_pattern(pattern)
    return tuple(sorted({name for _, name, _, _ in string.Formatter().parse(pattern) if name}))


def username_base(pattern: str, record: PersonRecord) -> str:
    """The local part the pattern gives, before any number is added. Legal names, not
    preferred ones: a username outlives a preferred name."""
    named = _named(pattern)
    return _local_part(pattern, named, tuple(_PLACEHOLDERS[name](record) for name in named))


@lru_cache(maxsize=131_072)
def _local_part(pattern: str, named: tuple[str, ...], values: tuple[str, ...]) -> str:
    """`username_base` once the placeholders' values are known (many people share them)."""
    filled = pattern.format(**dict(zip(named, values, strict=True)))
    local = _RUNS_OF_SEPARATORS.sub(r"\1", filled).strip(_SEPARATORS)
    local = local[:MAX_LOCAL_LENGTH].rstrip(_SEPARATORS)
    return local or FALLBACK_LOCAL_PART


def usernames_from_base(base: str, la_code: str) -> Iterator[str]:
    """ "jsmith.202", "jsmith2.202", "jsmith3.202", ... (endless; reserved names skipped).
    The number replaces the end of a long base, so every local part fits the limit."""
    for n in count(1):
        suffix = "" if n == 1 else str(n)
        local = base[: MAX_LOCAL_LENGTH - len(suffix)].rstrip(_SEPARATORS) + suffix
        if local not in RESERVED_LOCAL_PARTS:
            yield f"{local}.{la_code}"


def username_candidates(pattern: str, record: PersonRecord, la_code: str) -> Iterator[str]:
    return usernames_from_base(username_base(pattern, record), la_code)
