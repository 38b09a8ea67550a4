"""The one error every service raises when it refuses: `ServiceError`, with a machine
`code` and a message in a school admin's words. Each service module has its own
subclass (`uploads.UploadError`, `sync.RunError`, `accounts.AccountError`,
`schools.SchoolError`), and each door translates the base class once: the web app shows
the message on the page, the JSON API answers with the status of the code
(`api.api._service_error`), the command prints it and exits 1 (`cli_support.refused`).
"""

from __future__ import annotations

from typing import ClassVar

# What went wrong, for a machine (the JSON API's status comes from it).
INVALID = "invalid"  # the request itself is wrong (a field, a format, a missing choice)
NOT_FOUND = "not_found"  # what it names does not exist (or no longer does)
REFUSED = "refused"  # well formed, but a rule refuses what it names (a link not offered)
CONFLICT = "conflict"  # the request is fine but the state refuses it (not held, resolved)
TOO_LARGE = "too_large"  # the file passed the upload limit
CODES = frozenset({INVALID, REFUSED, NOT_FOUND, CONFLICT, TOO_LARGE})


class ServiceError(Exception):
    """A refused write: nothing was changed. `field` names the input at fault, if any."""

    code: ClassVar[str] = INVALID

    def __init__(self, message: str, *, code: str | None = None, field: str | None = None):
        super().__init__(message)
        if code is not None:
            if code not in CODES:
                raise ValueError(f"unknown service error code {code!r}")
            self.code = code  # type: ignore[misc]
        self.field = field

    @property
    def message(self) -> str:
        return str(self)
