"""Tenant simulators for provisioning: Google Workspace's Directory API and Microsoft
365 (Entra inbound provisioning and Graph groups), each a loopback HTTP server on the MIS
simulators' `SimServer` (with their `--faults`). `rollsync downstream-sim google|
microsoft` runs one; the provisioning tests run against them."""

from __future__ import annotations

from .google import GoogleDirectorySimulator
from .keys import SimServiceAccount, make_service_account
from .microsoft import MicrosoftSimulator

__all__ = [
    "GoogleDirectorySimulator",
    "MicrosoftSimulator",
    "SimServiceAccount",
    "make_service_account",
]
