"""Structured logs: one JSON object a line, with the school, run, upload and task ids
bound where a task starts, on every line written while it runs."""

from __future__ import annotations

import io
import json
import logging
from collections.abc import Iterator

import pytest

from rollsync.directory import models as m
from rollsync.directory import tasks
from rollsync.directory.services.uploads import upload_queue, upload_store
from rollsync.ops import logging as ops_logging
from tests.access.helpers import DAY3, World, class_list, csv_bytes
from tests.web.conftest import run_worker


@pytest.fixture
def lines() -> Iterator[io.StringIO]:
    """The rollsync logger's output as the deployment writes it (settings.LOGGING)."""
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.addFilter(ops_logging.ContextFilter())
    handler.setFormatter(ops_logging.Formatter())
    logger = logging.getLogger("rollsync")
    level = logger.level
    logger.addHandler(handler)
    logger.setLevel(logging.INFO)
    ops_logging.clear()
    try:
        yield stream
    finally:
        logger.removeHandler(handler)
        logger.setLevel(level)
        ops_logging.clear()


def parsed(stream: io.StringIO) -> list[dict[str, object]]:
    return [json.loads(line) for line in stream.getvalue().splitlines()]


def test_a_line_is_json_with_the_bound_ids(lines: io.StringIO) -> None:
    log = logging.getLogger("rollsync.test")
    with ops_logging.bound(school="100001", run=7):
        log.info("planned %d records", 12, extra={"records": 12})
    log.warning("outside")
    inside, outside = parsed(lines)
    assert inside["message"] == "planned 12 records"
    assert (inside["level"], inside["logger"], inside["records"]) == ("INFO", "rollsync.test", 12)
    assert (inside["school"], inside["run"]) == ("100001", 7)
    assert "time" in inside
    assert "school" not in outside and "run" not in outside


def test_an_unknown_key_is_refused() -> None:
    with pytest.raises(ValueError, match="unknown log context key"):
        ops_logging.bind(shcool="100001")


def test_hostile_values_stay_one_line_of_json(lines: io.StringIO) -> None:
    with ops_logging.bound(school='1"\n{"level": "CRITICAL"}'):
        logging.getLogger("rollsync.test").info('a "quoted"\nmessage')
    [line] = parsed(lines)
    assert line["school"] == '1"\n{"level": "CRITICAL"}' and line["level"] == "INFO"


def test_a_tasks_lines_carry_task_upload_run_and_school(world: World, lines: io.StringIO) -> None:
    school = world.home.school
    up = upload_store(
        school=school,
        payload=csv_bytes("students", class_list("L", "H")),
        fmt="csv",
        report="students",
        filename="log.csv",
        source="web",
    )
    task_id = upload_queue(upload=up, actor="test", as_of=DAY3)
    run_worker()
    run = m.SyncRun.objects.get(upload=up)
    task_lines = [ln for ln in parsed(lines) if ln.get("logger") == "rollsync.tasks"]
    assert [ln["message"] for ln in task_lines] == ["task started", "task succeeded"]
    for ln in task_lines:
        assert (ln["task"], ln["upload"], ln["school"]) == (task_id, up.pk, school.urn)
    assert task_lines[1]["run"] == run.pk
    # the next task starts clean: none of this one's ids leak into it
    held = world.foreign.held
    tasks.enqueue_approve(held.pk, actor="test")
    run_worker()
    started = [ln for ln in parsed(lines) if ln.get("message") == "task started"][-1]
    assert started["school"] == world.foreign.school.urn
    assert started["run"] == held.pk
    assert started["upload"] == held.upload_id != up.pk
    assert started["task"] != task_id


def test_a_run_started_from_any_door_logs_its_school_upload_and_run(
    world: World, lines: io.StringIO
) -> None:
    from rollsync.directory.services.schools import school_add
    from rollsync.directory.services.sync import sync_run_execute

    school = school_add(urn="100009", la_code="202", estab="2009", name="New Primary")
    up = upload_store(
        school=school,
        payload=csv_bytes("students", class_list("R", "S")),
        fmt="csv",
        report="students",
        filename="cli.csv",
        source="cli",
    )
    with ops_logging.bound(task="outer"):
        run = sync_run_execute(upload=up, as_of=DAY3, actor="cli")
        # the run's ids are dropped when it ends; what was bound before it is kept
        assert ops_logging.current() == {"task": "outer"}
    started, finished = [ln for ln in parsed(lines) if ln.get("logger") == "rollsync.runs"]
    assert started["message"] == "run started" and "run" not in started
    assert finished["message"] == f"run {run.status}" == "run applied"
    for ln in (started, finished):
        assert (ln["school"], ln["upload"], ln["task"]) == (school.urn, up.pk, "outer")
    assert finished["run"] == run.pk
    assert finished["counts"] == run.counts and sum(run.counts.values()) == 10
