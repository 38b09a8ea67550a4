"""Every page that shows a run's status tells the truth (issue 8, defects 2 to 4 and the
run page's messages): a partly rejected run is amber "Applied with N rejected rows", a
run that waits for a held run reads "Waiting for run N" (not a hold to approve), a
rejected held run reads "Rejected" and the LA dashboard is not OK; a run page with
10,000 messages renders their kinds and one page of them."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from django.test import Client
from django.urls import reverse

from rollsync.directory import models as m
from rollsync.directory.services.schools import school_report_set
from rollsync.directory.services.sync import sync_run_execute, sync_run_reject, upload_store
from rollsync.web import selectors
from tests.access.helpers import DAY3, World, csv_bytes, make_user


def _store(school: m.School, report: str, rows: list[dict[str, Any]]) -> m.SyncRun:
    school_report_set(school=school, report=report, accepted=True, actor="test")
    upload = upload_store(
        school=school,
        payload=csv_bytes(report, rows),
        fmt="csv",
        report=report,
        filename=f"{report}.csv",
        source="test",
    )
    return sync_run_execute(upload=upload, as_of=DAY3, actor="test")


def marks(*pupil_ids: str) -> list[dict[str, Any]]:
    return [
        {"pupil_mis_id": p, "date": "2026-09-09", "session": "AM", "code": "/"} for p in pupil_ids
    ]


def members(*pupil_ids: str) -> list[dict[str, Any]]:
    return [
        {
            "group_mis_id": "G1",
            "group_name": "Class 3A",
            "group_kind": "class",
            "person_role": "pupil",
            "person_mis_id": p,
            "membership_role": "student",
        }
        for p in pupil_ids
    ]


@pytest.fixture
def operator(world: World, client: Client) -> Client:
    client.force_login(make_user("region_operator", world))
    return client


def badges(html: str) -> list[tuple[str, str]]:
    """(data-status, words) of every status badge on the page."""
    return re.findall(r'<span class="status [^"]*" data-status="([^"]+)">([^<]+)</span>', html)


def test_bulk_results_history_and_runs_show_partial_waiting_and_rejected_runs(
    world: World, operator: Client
) -> None:
    home, sibling = world.home.school, world.sibling
    # The sibling school: an attendance file with one unknown pupil of two.
    partial = _store(sibling, "attendance", marks("S1", "X9"))
    assert (partial.status, partial.counts["rejected"]) == ("applied", 1)
    # The home school's pupils run is held: a Groups & Classes upload waits for it.
    waiting = _store(home, "groups", members("P0", "P1"))
    assert waiting.waits_for_id == world.home.held.pk

    page = operator.get(reverse("web:bulk_results", kwargs={"urn": sibling.urn}))
    html = page.content.decode()
    assert ("applied_with_rejections", "Applied with 1 rejected row") in badges(html)
    assert 'class="status status-amber' in html
    assert "status-green" not in html.split("Attendance")[1].split("</tr>")[0]

    page = operator.get(reverse("web:bulk_results", kwargs={"urn": home.urn}))
    assert [r.pk for r in page.context["held"]] == [world.home.held.pk]
    assert [r.pk for r in page.context["waiting"]] == [waiting.pk]
    html = page.content.decode()
    held_part = html.split('id="held-heading"')[1].split("</section>")[0]
    waiting_part = html.split('id="waiting-heading"')[1].split("</section>")[0]
    assert f"Run {waiting.pk}</a>" not in held_part
    assert f"Run {waiting.pk}</a>" in waiting_part
    assert ("waiting", f"Waiting for run {world.home.held.pk}") in badges(html)
    assert page.context["counts"]["held"] == 1

    history = operator.get(reverse("web:upload_history", kwargs={"urn": home.urn}))
    assert ("waiting", f"Waiting for run {world.home.held.pk}") in badges(history.content.decode())
    runs = operator.get(reverse("web:runs", kwargs={"urn": sibling.urn}))
    assert ("applied_with_rejections", "Applied with 1 rejected row") in badges(
        runs.content.decode()
    )

    # The waiting run's page: why it waits, and no button to approve it.
    detail = operator.get(
        reverse("web:run_detail", kwargs={"urn": home.urn, "run_id": waiting.pk})
    ).content.decode()
    assert "Why it waits" in detail
    assert f"Approve run {waiting.pk}" not in detail and f"Reject run {waiting.pk}" not in detail

    # Rejecting the held run: it reads Rejected everywhere; the waiting run is planned.
    sync_run_reject(run=world.home.held, actor="head")
    page = operator.get(reverse("web:bulk_results", kwargs={"urn": home.urn}))
    students = next(f for f in page.context["feeds"] if f.upload.report == "students")
    assert students.run.pk == world.home.held.pk
    html = page.content.decode()
    assert ("rejected", "Rejected") in badges(html)
    assert ("held", "Held") not in badges(html)
    history = operator.get(reverse("web:upload_history", kwargs={"urn": home.urn}))
    assert ("rejected", "Rejected") in badges(history.content.decode())
    assert ("held", "Held") not in badges(history.content.decode())
    waiting.refresh_from_db()
    assert (waiting.status, waiting.waits_for_id) == ("applied", None)


def test_la_dashboard_light_for_rejected_and_partly_rejected_runs(
    world: World, operator: Client
) -> None:
    home, sibling = world.home.school, world.sibling
    now = datetime.now(UTC)
    _store(sibling, "attendance", marks("S1", "X9"))
    _store(home, "attendance", marks("P0"))  # waits for the held run
    rows = {
        h.school.urn: h
        for h in selectors.la_health(user=make_user("la_admin", world), la=world.la, now=now)
    }
    assert (rows[sibling.urn].light, rows[sibling.urn].label) == ("yellow", "Rejected rows")
    assert re.fullmatch(r"Run \d+ was applied with 1 rejected row", rows[sibling.urn].why)
    assert (rows[home.urn].light, rows[home.urn].label) == ("red", "Held")
    assert rows[home.urn].why == "1 run held for approval (1 more waits for it)"
    sync_run_reject(run=world.home.held, actor="head")
    m.Upload.objects.filter(school=home).update(outcome="applied")  # nothing queued
    rows = {
        h.school.urn: h
        for h in selectors.la_health(
            user=make_user("la_admin", world), la=world.la, now=now + timedelta(minutes=1)
        )
    }
    assert (rows[home.urn].light, rows[home.urn].label) == ("red", "Rejected")
    assert rows[home.urn].why == (
        f"Run {world.home.held.pk} was rejected: nothing of it was applied; a person must look at it"
    )
    assert "The last run was applied" not in rows[home.urn].why
    page = operator.get(reverse("web:la_dashboard", kwargs={"code": world.la.code}))
    assert '<span class="light red">Rejected</span>' in page.content.decode()


def test_run_page_groups_ten_thousand_messages_and_pages_them(
    world: World, operator: Client
) -> None:
    run = world.home.held
    run.errors = [
        {
            "row": i + 1,
            "field": "pupil_mis_id",
            "message": f"1 attendance mark name pupil MIS ID X{i}, who is not in this upload "
            "and has no account at this school; it was skipped.",
        }
        for i in range(10_000)
    ] + [{"row": 7, "field": "date", "message": "date '2026-13-01' is not a date"}]
    run.save(update_fields=["errors"])
    url = reverse("web:run_detail", kwargs={"urn": world.home.school.urn, "run_id": run.pk})
    html = operator.get(url).content.decode()
    assert html.count('<tr class="message-kind">') == 2
    assert html.count('<tr class="message-row">') == 100
    kinds = re.findall(r'<tr class="message-kind"><td class="num">(\d+)</td>', html)
    assert kinds == ["10000", "1"]
    assert "and 9997 more like it" in html
    assert "Every message (10001, page 1 of 101)" in html
    last = operator.get(url + "?messages=101").content.decode()
    assert last.count('<tr class="message-row">') == 1
    assert "date &#x27;2026-13-01&#x27; is not a date" in last
