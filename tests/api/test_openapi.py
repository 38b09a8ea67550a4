"""docs/openapi.json is the document the code generates (regenerate it with
`python -m rollsync.api.openapi docs/openapi.json` when the API changes)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from django.test import Client

from rollsync.api.openapi import openapi_document, openapi_text

COMMITTED = Path(__file__).resolve().parents[2] / "docs" / "openapi.json"
REGENERATE = "docs/openapi.json is stale: run `python -m rollsync.api.openapi docs/openapi.json`"


def test_committed_document_is_the_generated_one() -> None:
    assert COMMITTED.read_text(encoding="utf-8") == openapi_text(), REGENERATE


def test_it_is_openapi_3_1_with_bearer_tokens() -> None:
    document = openapi_document()
    assert document["openapi"] == "3.1.0"
    assert document["components"]["securitySchemes"] == {
        "ApiTokenAuth": {"type": "http", "scheme": "bearer"}
    }
    operations = {
        op["operationId"]: (method.upper(), path, op)
        for path, item in document["paths"].items()
        for method, op in item.items()
    }
    assert sorted(operations) == sorted(
        [
            "listSchools",
            "getSchool",
            "listResults",
            "createUpload",
            "listUploads",
            "getUpload",
            "forceRun",
            "getTask",
            "listRuns",
            "getRun",
            "approveRun",
            "rejectRun",
            "listMatchCases",
            "getMatchCase",
            "resolveMatchCase",
            "listCrossSchoolCases",
            "decideCrossSchoolCase",
            "listAccounts",
            "getAccount",
            "restoreAccount",
            "listExclusions",
            "addExclusion",
            "removeExclusion",
            "getConnection",
            "pullConnection",
        ]
    )
    for method, path, op in operations.values():
        assert path.startswith("/api/v1/")
        assert op["security"] == [{"ApiTokenAuth": []}], path
        assert "401" in op["responses"], path
        if method != "GET":
            assert "403" in op["responses"], path
    assert "202" in operations["createUpload"][2]["responses"]


def test_the_document_is_served(db: Any) -> None:
    response = Client().get("/api/v1/openapi.json")
    assert response.status_code == 200
    assert json.loads(response.content) == openapi_document()
