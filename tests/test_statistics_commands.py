"""`manage.py statistics`, `manage.py rebuild_statistics` and the beat tasks (issue 13)."""

import io

import pytest
from django.conf import settings
from django.core.management import CommandError, call_command

from healthcard import statistics, tasks
from healthcard.models import DailyInstitutionUse, DailyUsage
from tests.statistics_world import *  # noqa: F403 - the fixtures
from tests.statistics_world import NOW, scan


def run(*args) -> str:
    out = io.StringIO()
    call_command(*args, stdout=out)
    return out.getvalue()


@pytest.mark.usefixtures("world")
def test_rebuild_command_rebuilds_a_range_in_chunks():
    DailyUsage.objects.all().delete()
    DailyInstitutionUse.objects.all().delete()
    out = run("rebuild_statistics", "--from", "2026-06-01", "--to", "2026-06-10", "--chunk", "5")
    assert out.splitlines()[0].startswith("2026-06-01..2026-06-05: ")
    assert out.splitlines()[1].startswith("2026-06-06..2026-06-10: ")
    assert DailyUsage.objects.filter(day="2026-06-02").count() == 3
    assert DailyInstitutionUse.objects.count() == 4


@pytest.mark.usefixtures("world")
def test_statistics_command_writes_the_pages_tables():
    out = run("statistics", "--from", "2026-06-01", "--to", "2026-06-10", "--table", "use_by_day")
    assert out.splitlines()[0] == "# Card uses per day"
    assert "2026-06-02,3,1,2" in out
    out = run("statistics", "--from", "2026-06-01", "--to", "2026-06-10")
    assert "湘雅医院,430100000001,长沙市,Tertiary hospital,5,3,60.0%,80%,below target,2/10,0" in out
    assert out.count("\n# ") == len(statistics.TABLE_KEYS) - 1


@pytest.mark.usefixtures("world")
def test_statistics_command_writes_one_file_per_table(tmp_path):
    out = run(
        "statistics",
        "--from",
        "2026-06-01",
        "--to",
        "2026-06-10",
        "--institution",
        "430100000002",
        "--output",
        str(tmp_path),
    )
    files = sorted(p.name for p in tmp_path.iterdir())
    assert len(files) == len(statistics.TABLE_KEYS)
    text = (tmp_path / "use_by_institution-2026-06-01-2026-06-10.csv").read_text("utf-8-sig")
    assert text.splitlines()[1:] == ["长沙市第三医院,430100000002,Secondary hospital,3,0,2"]
    assert len(out.splitlines()) == len(statistics.TABLE_KEYS)


@pytest.mark.parametrize(
    "args",
    [
        ("--from", "2026-02-30"),
        ("--from", "2026-06-10", "--to", "2026-06-01"),
        ("--institution", "nope"),
    ],
)
def test_statistics_command_refuses_bad_arguments(db, args):
    with pytest.raises(CommandError):
        run("statistics", *args)


def test_rebuild_command_refuses_a_backwards_range(db):
    with pytest.raises(CommandError):
        run("rebuild_statistics", "--from", "2026-06-10", "--to", "2026-06-01")


def test_beat_task_refreshes_today_and_yesterday(world, hospital):
    scan(hospital.terminals.first(), world["a"], NOW)
    assert tasks.refresh_statistics() == "2026-06-09..2026-06-10"
    assert DailyUsage.objects.get(institution=hospital, day="2026-06-10").uses == 1


def test_nightly_task_covers_the_offline_upload_window(world):
    assert tasks.rebuild_late_statistics() == "2026-03-12..2026-06-10"


def test_beat_schedule_runs_both_tasks_on_the_statistics_queue():
    schedule = {entry["task"] for entry in settings.CELERY_BEAT_SCHEDULE.values()}
    assert {
        "healthcard.tasks.refresh_statistics",
        "healthcard.tasks.rebuild_late_statistics",
    } <= schedule
    from healthcard.celery import app

    route = app.amqp.router.route({}, "healthcard.tasks.refresh_statistics")
    assert route["queue"].name == "statistics"
