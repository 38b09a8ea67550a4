"""The 1EdTech OneRoster rostering scopes, per version, and which collections each one
opens. A token carries the scopes it was granted; a request is allowed when one of
them opens the collection at the request's version."""

from __future__ import annotations

from typing import Final

VERSIONS: Final = ("v1p1", "v1p2")
_BASE: Final = "https://purl.imsglobal.org/spec/or/{version}/scope/"
CORE, FULL, DEMOGRAPHICS = "roster-core.readonly", "roster.readonly", "roster-demographics.readonly"

# Collections each scope opens (OneRoster 1.1/1.2 rostering service): core leaves out
# demographics, which only its own scope opens.
_CORE_COLLECTIONS: Final = frozenset(
    {
        "orgs",
        "schools",
        "academicSessions",
        "terms",
        "gradingPeriods",
        "users",
        "students",
        "teachers",
        "classes",
        "courses",
        "enrollments",
    }
)
OPENS: Final[dict[str, frozenset[str]]] = {
    CORE: _CORE_COLLECTIONS,
    FULL: _CORE_COLLECTIONS,
    DEMOGRAPHICS: frozenset({"demographics"}),
}


def scope_uri(version: str, name: str) -> str:
    return _BASE.format(version=version) + name


ALL_SCOPES: Final = frozenset(scope_uri(v, n) for v in VERSIONS for n in OPENS)
# Asked for no scope, a client gets the rostering scopes of both versions (not
# demographics, which must be asked for by name).
DEFAULT_SCOPES: Final = tuple(scope_uri(v, FULL) for v in VERSIONS)


def allows(scopes: frozenset[str] | set[str], version: str, collection: str) -> bool:
    """Whether a token holding `scopes` may read `collection` at `version`."""
    return any(
        scope_uri(version, name) in scopes and collection in opened
        for name, opened in OPENS.items()
    )
