"""Bromcom: the MIS pushes to rollsync; rollsync never calls it.

The school is given a licence key, a supplier ID and a supplier password on AutoUpdate
Settings (or `rollsync mis push-credentials`), enters them in Bromcom, and Bromcom sends
each report to rollsync's push endpoint every evening after 18:00 (docs/push-api.md;
`directory.services.push`). So this connector only says so: there is nothing to check
and nothing to pull, and a Force run is started from Bromcom, never here.
"""

from __future__ import annotations

from .base import CheckResult, Connection, Connector, Pulled, PullRequest
from .errors import ConnectorError
from .registry import register

RUN_FROM_BROMCOM = "Bromcom pushes to rollsync: run it from Bromcom"


@register
class BromcomConnector(Connector):
    name = "bromcom"
    mis = "Bromcom"
    label = "Bromcom"
    fmt = "csv"  # what a push is, report by report (a bundle may be CTF, OneRoster or SDS)
    fields = ()
    push = True
    default_schedule = "daily 18:00"  # Bromcom's own schedule, kept in Bromcom

    def check(self, connection: Connection) -> CheckResult:
        raise ConnectorError(RUN_FROM_BROMCOM, field="mis")

    def pull(self, connection: Connection, request: PullRequest) -> list[Pulled]:
        raise ConnectorError(RUN_FROM_BROMCOM, field="mis")
