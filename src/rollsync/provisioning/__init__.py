"""Pushing the directory into a Google Workspace or Microsoft 365 tenant (pure: no
Django). `desired.directory_from_roster` says what the tenant should hold, each client
(`google.GoogleTenant`, `microsoft.MicrosoftTenant`) reads the tenant back, `plan.plan`
compares (a dry run stops there), the client applies, and `run.provision` ties them.
The stored connections and run reports live in rollsync.tenants."""
