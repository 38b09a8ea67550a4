"""SIMS schools whose rollsync agent uploads: registered with the MIS set to SIMS, every
report accepted, a licence key issued through the service, and their extracts written by
the fake CommandReporter (`missim.commandreporter`) from the definitions the server gives."""

from __future__ import annotations

import dataclasses
import functools
import hashlib
import json
from dataclasses import dataclass
from typing import Any

import pytest
from django.test import Client

from rollsync.directory import models as m
from rollsync.directory.agent_reports import DEFINITIONS
from rollsync.directory.selectors import agent_report_tree
from rollsync.directory.services.agent import IssuedLicence, agent_licence_issue
from rollsync.directory.services.schools import school_add
from rollsync.missim.commandreporter import _rows, parse_definition, report_xml
from rollsync.simulate import SchoolSnapshot, make_school_truth

ACCEPTED = ("students", "students_future", "staff", "staff_future", "contacts", "groups")


@functools.cache
def _truth() -> SchoolSnapshot:
    return make_school_truth(pupils=12, phase="Primary")


def sims_school(n: int = 1, *, accept: tuple[str, ...] = ACCEPTED, mis: str = "SIMS") -> m.School:
    return school_add(
        urn=f"{100000 + n}",
        la_code="202",
        estab=f"{2000 + n}",
        name=f"SIMS School {n}",
        la_name="Testshire",
        mis=mis,
        accept_reports=accept,
        actor="setup",
    )


@dataclass
class Agent:
    """A school's agent, as the endpoints see it: its licence key and its extracts."""

    school: m.School
    snap: SchoolSnapshot
    licence: IssuedLicence

    @property
    def key(self) -> str:
        return self.licence.licence_key

    def headers(self, key: str | None = None) -> dict[str, str]:
        return {"HTTP_AUTHORIZATION": f"Bearer {self.key if key is None else key}"}

    def extract(self, report: str) -> bytes:
        """What the fake CommandReporter writes for the report's definition as the server
        gives it now (opted-out fields already left out)."""
        tree = {r["report"]: r for r in agent_report_tree(school=self.school)}
        xml = tree[report]["definition"]["xml"].encode("utf-8")
        definition = parse_definition(xml)
        d = DEFINITIONS[report]
        return report_xml(definition, _rows(self.snap, d.recordset, d.filter), ids=True)

    def get(self, path: str, key: str | None = None) -> Any:
        return Client().get(f"/agent/v1/{path}", **self.headers(key))

    def post(self, path: str, body: Any, key: str | None = None) -> Any:
        return Client().post(
            f"/agent/v1/{path}",
            data=json.dumps(body),
            content_type="application/json",
            **self.headers(key),
        )

    def begin(self, report: str, data: bytes, key: str | None = None, **over: Any) -> Any:
        body = {
            "report": report,
            "sha256": hashlib.sha256(data).hexdigest(),
            "size": len(data),
            "filename": f"{report}.xml",
            "extracted_at": "2026-11-30T18:30:05+00:00",
            **over,
        }
        return self.post("uploads", body, key)

    def patch(
        self, upload_id: str, offset: int, chunk: bytes, key: str | None = None, **extra: Any
    ) -> Any:
        return Client().generic(
            "PATCH",
            f"/agent/v1/uploads/{upload_id}",
            data=chunk,
            content_type="application/offset+octet-stream",
            HTTP_UPLOAD_OFFSET=str(offset),
            **self.headers(key),
            **extra,
        )

    def send(self, report: str, data: bytes, chunk: int = 256 * 1024) -> Any:
        """Begin and send every chunk; the last answer."""
        begun = self.begin(report, data)
        assert begun.status_code in (200, 201), begun.content
        answer = begun
        state = begun.json()
        offset = state.get("offset", 0)
        while state["state"] == "receiving":
            answer = self.patch(state["id"], offset, data[offset : offset + chunk])
            assert answer.status_code == 200, answer.content
            state = answer.json()
            offset = state.get("offset", offset)
        return answer


def snapshot_of(school: m.School) -> SchoolSnapshot:
    return dataclasses.replace(
        _truth(),
        urn=school.urn,
        la_code=school.la.code,
        la_name=school.la.name,
        estab=school.estab,
        school_name=school.name,
    )


def make_agent(n: int = 1, **kw: Any) -> Agent:
    school = sims_school(n, **kw)
    licence = agent_licence_issue(school=school, actor="admin")
    school.refresh_from_db()
    return Agent(school, snapshot_of(school), licence)


@pytest.fixture
def agent(db: Any) -> Agent:
    return make_agent()


def stored() -> dict[str, int]:
    """What a refused request must leave as it was."""
    return {
        "uploads": m.Upload.objects.count(),
        "tasks": m.QueuedTask.objects.count(),
        "audit": m.AuditEvent.objects.count(),
        "runs": m.SyncRun.objects.count(),
        "chunks": m.AgentUploadChunk.objects.count(),
    }
