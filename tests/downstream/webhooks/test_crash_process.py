"""A real process dies right after its sync commits, before it can queue the dispatcher:
the outbox rows committed with the change, and a real `rollsync worker --batch` (its
every-minute schedule) delivers them to the receiver, signed."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

from tests.directory.helpers import csv_bytes
from tests.downstream.webhooks.conftest import pupil
from tests.downstream.webhooks.receiver import Receiver
from tests.tasks import processes as p
from tests.tasks.conftest import scratch_database  # noqa: F401 (a fixture)

SYNC_THEN_DIE = """
from django.db import transaction
from rollsync.directory.services.uploads import upload_store
from rollsync.directory.services.sync import sync_run_execute
school = m.School.objects.get(urn="100001")
upload = upload_store(
    school=school, payload=open(sys.argv[1], "rb").read(), fmt="csv", report="students",
    filename="students.csv", source="test",
)
with transaction.atomic():
    transaction.on_commit(lambda: os._exit(9))  # first after the commit: die there
    sync_run_execute(upload=upload)
print("not reached")
"""

OUTBOX = """
from django_q.models import OrmQ
from rollsync.webhooks.models import WebhookDelivery
print(json.dumps({
    "deliveries": list(WebhookDelivery.objects.values_list("type", "status")),
    "queued": OrmQ.objects.count(),
    "accounts": m.Account.objects.count(),
}))
"""


def test_a_process_killed_right_after_its_commit_still_sends(
    scratch_database: Callable[[], str],  # noqa: F811
    receiver: Receiver,
    tmp_path: Path,
) -> None:
    url, home = scratch_database(), tmp_path
    p.run(url, home, "migrate")
    p.run(url, home, "school", "add", "--urn", "100001", "--la", "202", "--estab", "2001",
          "--name", "Hillside Primary")  # fmt: skip
    added = p.run(
        url, home, "webhook", "add", "--url", receiver.url, "--school", "100001", "--json"
    )
    receiver.secret = added["secret"]
    students = tmp_path / "students.csv"
    students.write_bytes(csv_bytes("students", [pupil("P1", "Ada", "Lovelace")]))
    died = subprocess.run(
        [sys.executable, "-c", p.PRELUDE + SYNC_THEN_DIE, str(students)],
        env=p.env(url, home),
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert died.returncode == 9, (died.stdout, died.stderr)
    assert "not reached" not in died.stdout
    assert p.python(url, home, OUTBOX) == {
        "deliveries": [["account.created", "pending"]],
        "queued": 0,  # the dispatcher was never queued
        "accounts": 1,
    }
    assert receiver.requests == 0
    p.run(url, home, "worker", "--batch")  # its schedule's first pass is due
    assert receiver.types() == ["account.created"]
    assert receiver.refused == []
    after = p.python(url, home, OUTBOX)
    assert after["deliveries"] == [["account.created", "succeeded"]]
