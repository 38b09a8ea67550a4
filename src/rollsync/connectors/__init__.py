"""MIS connectors: pull a school's data from its MIS's API (no Django here).

One module per vendor, each a registered `Connector` (base.py); the shared HTTP rules in
http.py; errors in errors.py. The vendor's simulator, which the tests run against over
real sockets, is in `rollsync.missim`; the format reader of its bundles in
`rollsync.ingest`. See docs/connectors.md.
"""

from __future__ import annotations

from .base import Approved, CheckResult, Connection, Connector, Pulled, PullRequest, SettingField
from .errors import (
    AccessNotGranted,
    ApprovalWithdrawn,
    BadResponse,
    ConnectorError,
    CredentialsRefused,
    SetupIncomplete,
    UnsafeUrl,
    VendorUnavailable,
)
from .registry import connector_class, connector_for, register, registered_connectors

# The vendors, each registering itself on import (one line each).
from . import isams as _isams  # noqa: F401  # isort: skip
from . import arbor as _arbor  # noqa: F401  # isort: skip
from . import wonde as _wonde  # noqa: F401  # isort: skip
from . import integris as _integris  # noqa: F401  # isort: skip
from . import pupil_asset as _pupil_asset  # noqa: F401  # isort: skip
from . import bromcom as _bromcom  # noqa: F401  # isort: skip
from . import scholarpack as _scholarpack  # noqa: F401  # isort: skip
from . import sims as _sims  # noqa: F401  # isort: skip

__all__ = [
    "AccessNotGranted",
    "ApprovalWithdrawn",
    "Approved",
    "BadResponse",
    "CheckResult",
    "Connection",
    "Connector",
    "ConnectorError",
    "CredentialsRefused",
    "PullRequest",
    "Pulled",
    "SettingField",
    "SetupIncomplete",
    "UnsafeUrl",
    "VendorUnavailable",
    "connector_class",
    "connector_for",
    "register",
    "registered_connectors",
]
