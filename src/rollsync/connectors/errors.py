"""What can go wrong when rollsync talks to an MIS, in words a school admin can act on.

Every connector raises only these (an unexpected exception is a bug, and the pull fails
with a generic message). `transient` says whether the next scheduled try may succeed by
itself (the vendor was busy or down) or a person must act first (credentials refused, the
connection not set up, the vendor's data not as documented).
"""

from __future__ import annotations

from rollsync.domain.sentences import sentence_case


class ConnectorError(Exception):
    """A pull or a check that cannot go on. `message` is read by a school admin."""

    transient = False
    state = "failing"  # the connection state it leaves: "failing" or "awaiting_approval"

    def __init__(
        self, message: str, *, field: str | None = None, status: int | None = None
    ) -> None:
        message = sentence_case(message)
        super().__init__(message)
        self.message = message
        self.field = field
        self.status = status  # the vendor's HTTP status, when an answer caused it


class UnsafeUrl(ConnectorError):
    """A URL rollsync will not call: not HTTPS (plain http only to a loopback address),
    credentials or fragments in it, or not a URL at all."""


class CredentialsRefused(ConnectorError):
    """The vendor said no to the credentials (401, or 403 on its token endpoint).
    Never retried: a storm of refused logins can lock a school's API client."""


class AccessNotGranted(ConnectorError):
    """The credentials work, but this school (or this report's data) was not granted to
    rollsync (a 403 on data): the school must grant it in the MIS."""


class SetupIncomplete(ConnectorError):
    """The connection lacks something only a person can give (Arbor: "MISSING ENDPOINT
    URL" until the school approves access)."""

    state = "awaiting_approval"


class ApprovalWithdrawn(SetupIncomplete):
    """The school withdrew rollsync's approval in its MIS (an OAuth grant revoked, a
    refresh token refused): shown as "approval withdrawn", and nothing is pulled until
    the school approves again."""


class VendorUnavailable(ConnectorError):
    """The vendor kept answering 429 or 5xx, or the network failed, past the retries."""

    transient = True


class BadResponse(ConnectorError):
    """The vendor's answer is not what it documents; `field` names where (e.g.
    "students[3].dob" on page 2). Nothing from the pull is applied."""
