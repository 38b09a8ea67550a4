"""SIMS: the rollsync agent on the school's server uploads to rollsync; rollsync never
calls SIMS.

SIMS runs on a server in the school, out of rollsync's reach. The school is given a
licence key on AutoUpdate Settings (or `rollsync mis agent-licence`), installs the
rollsync agent on the SIMS server and enters the key; the agent extracts the accepted
reports with SIMS's CommandReporter on its own schedule and uploads them
(docs/agent.md; `directory.services.agent`). So this connector only says so: there is
nothing to check and nothing to pull, and a run is started on the school's server.
"""

from __future__ import annotations

from .base import CheckResult, Connection, Connector, Pulled, PullRequest
from .errors import ConnectorError
from .registry import register

SOURCE = "SIMS agent"  # Upload.source of every extract the agent uploads
RUN_ON_THE_SERVER = (
    "the rollsync agent on the school's server uploads SIMS's data: run it there "
    "(Extract, Filter and Upload)"
)


@register
class SimsConnector(Connector):
    name = "sims"
    mis = "SIMS"
    label = "SIMS (rollsync agent)"
    fmt = "sims-superstar"  # one CommandReporter report per upload
    fields = ()
    push = True  # the agent delivers; nothing is pulled
    agent = True
    default_schedule = ""  # the agent's schedule, kept on the school's server

    def check(self, connection: Connection) -> CheckResult:
        raise ConnectorError(RUN_ON_THE_SERVER, field="mis")

    def pull(self, connection: Connection, request: PullRequest) -> list[Pulled]:
        raise ConnectorError(RUN_ON_THE_SERVER, field="mis")
