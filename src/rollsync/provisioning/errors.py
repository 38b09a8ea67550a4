"""What can go wrong when pushing into a tenant, in an operator's words."""

from __future__ import annotations


class ProvisioningError(Exception):
    """Base: `message` for people, `field` names the setting at fault where there is one."""

    def __init__(self, message: str, *, field: str = "") -> None:
        super().__init__(message)
        self.message = message
        self.field = field


class BadTenantSettings(ProvisioningError):
    """A setting or credential given by the operator is not usable (before any call)."""


class TenantRefused(ProvisioningError):
    """The tenant refused rollsync's credentials (a token could not be had, or 401)."""


class TenantUnavailable(ProvisioningError):
    """The tenant kept answering busy or failing after every retry."""


class TenantBadResponse(ProvisioningError):
    """The tenant answered something its documented shapes do not allow."""
