"""Tenant connections (Google Workspace, Microsoft 365) of a school or an LA and the
reports of their provisioning runs; the pushing itself is rollsync.provisioning."""
