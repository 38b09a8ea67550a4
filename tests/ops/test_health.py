"""/healthz and /readyz: up, and ready (database, migrations, queue tables)."""

from __future__ import annotations

from typing import Any

import pytest
from django.db import connection
from django.db.migrations.recorder import MigrationRecorder
from django.test import Client

pytestmark = pytest.mark.django_db


def test_healthz_answers_without_a_session_or_the_database(
    client: Client, django_assert_num_queries: Any
) -> None:
    with django_assert_num_queries(0):
        response = client.get("/healthz")
    assert response.status_code == 200
    assert response.json() == {"status": "ok"}
    assert "no-cache" in response["Cache-Control"]


def test_readyz_ok_when_database_migrations_and_queue_are(client: Client) -> None:
    response = client.get("/readyz")
    assert response.status_code == 200
    assert response.json() == {
        "status": "ok",
        "checks": {"database": {"ok": True}, "migrations": {"ok": True}, "queue": {"ok": True}},
    }


def test_readyz_unavailable_while_a_migration_is_not_applied(client: Client) -> None:
    # The directory app's latest migration (a leaf: nothing applied depends on it).
    latest = MigrationRecorder.Migration.objects.filter(app="directory").order_by("-name")[0]
    latest.delete()
    response = client.get("/readyz")
    assert response.status_code == 503
    body = response.json()
    assert body["status"] == "unavailable"
    assert body["checks"]["database"] == {"ok": True}
    assert body["checks"]["queue"] == {"ok": True}
    assert body["checks"]["migrations"] == {
        "ok": False,
        "error": f"1 migration(s) not applied: directory.{latest.name}",
    }


def test_readyz_unavailable_without_the_queue_table(client: Client) -> None:
    with connection.cursor() as cur:
        cur.execute("DROP TABLE django_q_ormq")  # rolled back with the test's transaction
    response = client.get("/readyz")
    assert response.status_code == 503
    checks = response.json()["checks"]
    assert checks["database"] == {"ok": True}
    assert checks["queue"]["ok"] is False
    assert "django_q_ormq" in checks["queue"]["error"]


def test_health_endpoints_refuse_writes(client: Client) -> None:
    for path in ("/healthz", "/readyz", "/metrics"):
        assert client.post(path).status_code == 405
