"""/metrics of a directory with nothing in it yet (a new install): every family, zeros."""

from __future__ import annotations

import pytest
from django.test import Client

from tests.ops.test_metrics import scrape, values


@pytest.mark.django_db
def test_metrics_of_an_empty_directory(client: Client) -> None:
    scraped = scrape(client)
    assert values(scraped, "rollsync_runs_total") == {}
    assert values(scraped, "rollsync_queue_depth") == {}
    assert scraped[("rollsync_run_duration_seconds_count", ())] == 0
    assert scraped[("rollsync_uploads", (("file", "kept"),))] == 0
    assert scraped[("rollsync_upload_bytes_kept", ())] == 0
    assert scraped[("rollsync_rows_processed_total", (("action", "created"),))] == 0
