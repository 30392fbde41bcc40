"""`alongside run`'s side of prefect.yaml: schedules read, triggers built, flows run one at a time.

No Prefect API here: the runner's flow call is replaced, and triggers are asked for their
next fire times at explicit instants (nothing waits for a clock).
"""

from __future__ import annotations

import asyncio
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

from engine.core.errors import UserError
from flows import runner, schedules
from flows.schedules import Schedule, day_of_week, read_deployments

LONDON = ZoneInfo("Europe/London")


def fires(schedule: Schedule, start: datetime, count: int) -> list[datetime]:
    """The next `count` fire times after `start`, in UTC."""
    trigger, times, previous, now = schedule.trigger(), [], None, start
    for _ in range(count):
        previous = trigger.get_next_fire_time(previous, now)
        times.append(previous.astimezone(UTC))
        now = previous + timedelta(microseconds=1)
    return times


def test_the_project_yaml_has_the_tick_every_15_minutes_and_the_digest_on_weekday_mornings():
    deployments = {d.name: d for d in read_deployments()}
    assert set(deployments) == {"tick", "digest", "report"}
    tick, digest = deployments["tick"], deployments["digest"]
    report = deployments["report"]
    assert report.entrypoint == "flows/outcomes.py:report_flow"
    (monthly,) = report.schedules
    assert monthly.cron == "0 6 1 * *" and monthly.timezone == "Europe/London"
    assert tick.entrypoint == "flows/sweep.py:tick_flow" and tick.parameters == {"batch_size": 500}
    assert digest.entrypoint == "flows/sweep.py:digest_flow"
    (every,) = tick.schedules
    assert every.interval == timedelta(minutes=15) and every.timezone == "Europe/London"
    (morning,) = digest.schedules
    assert morning.cron == "0 8 * * 1-5" and morning.timezone == "Europe/London"

    # The tick lands on the quarter hours.
    start = datetime(2027, 3, 1, 9, 7, tzinfo=UTC)
    assert [t.minute for t in fires(every, start, 4)] == [15, 30, 45, 0]
    # 08:00 London, Monday to Friday, across the clocks going forward on 28 March 2027.
    times = fires(morning, datetime(2027, 3, 25, 12, 0, tzinfo=UTC), 5)
    local = [t.astimezone(LONDON) for t in times]
    assert [t.strftime("%a %d %H:%M") for t in local] == [
        "Fri 26 08:00",
        "Mon 29 08:00",
        "Tue 30 08:00",
        "Wed 31 08:00",
        "Thu 01 08:00",
    ]
    assert times[0].hour == 8 and times[1].hour == 7  # GMT, then BST


def test_the_flows_the_project_yaml_names_are_the_engines_flows() -> None:
    from flows import sweep

    root = schedules.PROJECT_YAML.parent
    assert schedules.load_flow("flows/sweep.py:tick_flow", root) is sweep.tick_flow
    assert schedules.load_flow("flows.sweep:digest_flow", root) is sweep.digest_flow
    with pytest.raises(UserError, match="has no nothing"):
        schedules.load_flow("flows/sweep.py:nothing", root)


@pytest.mark.parametrize(
    ("cron", "apscheduler"),
    [
        ("1-5", "mon,tue,wed,thu,fri"),
        ("0", "sun"),
        ("7", "sun"),
        ("5-7", "fri,sat,sun"),
        ("0,6", "sat,sun"),
        ("*/2", "tue,thu,sat,sun"),  # 0, 2, 4, 6: Sunday, Tuesday, Thursday, Saturday
        ("mon-wed", "mon,tue,wed"),
        ("*", "*"),
    ],
)
def test_cron_weekdays_count_from_sunday_as_prefect_counts_them(cron: str, apscheduler: str):
    assert day_of_week(cron) == apscheduler


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "prefect.yaml"
    path.write_text(text)
    return path


def test_interval_schedules_keep_their_anchor_time_zone_and_parameters(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        """
deployments:
  - name: tick
    entrypoint: flows/sweep.py:tick_flow
    parameters: {batch_size: 50}
    schedules:
      - interval: 3600
        anchor_date: "2027-01-01T00:30:00"
        timezone: Europe/Bucharest
        parameters: {batch_size: 10}
      - interval: 60
        active: false
  - name: unscheduled
    entrypoint: flows/sweep.py:digest_flow
""",
    )
    (tick,) = read_deployments(path)
    (hourly,) = tick.schedules
    assert hourly.parameters == {"batch_size": 10}
    assert hourly.describe() == "every 1 hours (Europe/Bucharest)"
    first = fires(hourly, datetime(2027, 3, 1, 9, 0, tzinfo=UTC), 1)[0]
    assert first.astimezone(ZoneInfo("Europe/Bucharest")).minute == 30


@pytest.mark.parametrize(
    ("schedule", "problem"),
    [
        ("{rrule: 'FREQ=DAILY'}", "not rrule"),
        ("{cron: '0 8 1 * 1'}", "both the day of the month and the day of the week"),
        ("{cron: '0 8 * *'}", "needs 5 fields"),
        ("{cron: '0 8 * * 9'}", "not a day of the week"),
        ("{interval: 0}", "positive"),
        ("{interval: 60, timezone: Mars/Olympus}", "unknown time zone"),
    ],
)
def test_schedules_the_embedded_scheduler_cannot_run_faithfully_are_refused(
    tmp_path: Path, schedule: str, problem: str
) -> None:
    path = write(
        tmp_path,
        f"deployments:\n  - name: x\n    entrypoint: flows/sweep.py:tick_flow\n"
        f"    schedules: [{schedule}]\n",
    )
    with pytest.raises(UserError, match=problem):
        read_deployments(path)


def test_a_yaml_without_schedules_or_unreadable_is_one_line(tmp_path: Path) -> None:
    with pytest.raises(UserError, match="no deployment has an active schedule"):
        read_deployments(write(tmp_path, "deployments: []\n"))
    with pytest.raises(UserError, match="not valid YAML"):
        read_deployments(write(tmp_path, "deployments: [\n"))
    with pytest.raises(UserError, match="cannot read"):
        read_deployments(tmp_path / "missing.yaml")


def test_flows_run_one_at_a_time_and_none_starts_once_stopping(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    """Two jobs fired together run one after the other; after a stop, nothing new runs."""
    log: list[str] = []

    def fake_run(name: str, flow: object, parameters: dict) -> str:
        log.append(f"start {name} {parameters}")
        time.sleep(0.05)  # long enough for the other job to start, were nothing stopping it
        log.append(f"end {name}")
        return f"{name}: Completed"

    monkeypatch.setattr(runner, "_run_flow", fake_run)
    path = write(
        tmp_path,
        """
deployments:
  - {name: tick, entrypoint: flows/sweep.py:tick_flow, parameters: {batch_size: 5},
     schedules: [{interval: 900}]}
  - {name: digest, entrypoint: flows/sweep.py:digest_flow, schedules: [{cron: '0 8 * * 1-5'}]}
""",
    )
    said: list[str] = []

    async def scenario() -> None:
        engine = runner.Runner(read_deployments(path), tmp_path, said.append)
        (tick, _), (digest, _) = engine.jobs
        await asyncio.gather(engine.fire(tick), engine.fire(digest))
        engine.stop("SIGTERM")
        await engine.fire(tick)

    asyncio.run(scenario())
    assert log == ["start tick {'batch_size': 5}", "end tick", "start digest {}", "end digest"]
    assert [line.split(" ", 1)[1] for line in said[:2]] == ["tick: Completed", "digest: Completed"]
    assert said[2:] == ["SIGTERM: stopping"]


def test_jobs_coalesce_never_overlap_and_the_tick_catches_up_at_start(tmp_path: Path) -> None:
    from apscheduler.schedulers.asyncio import AsyncIOScheduler

    said: list[str] = []
    engine = runner.Runner(read_deployments(), tmp_path, said.append)
    scheduler = AsyncIOScheduler(timezone=UTC)
    now = datetime(2027, 3, 5, 16, 2, tzinfo=UTC)  # a Friday afternoon
    engine.schedule(scheduler, now, catch_up=True)
    jobs = {job.name: job for job in scheduler.get_jobs()}
    assert set(jobs) == {"tick", "digest", "report"}
    for job in jobs.values():
        assert job.coalesce and job.max_instances == 1 and job.misfire_grace_time is None
    assert jobs["tick"].next_run_time == now  # the sweep catches up at start-up
    assert not hasattr(jobs["digest"], "next_run_time")  # computed from the cron at start
    assert said == [
        "  tick      every 15 minutes (Europe/London); next now",
        "  digest    cron '0 8 * * 1-5' (Europe/London); next 2027-03-08 08:00 UTC",
        "  report    cron '0 6 1 * *' (Europe/London); next 2027-04-01 05:00 UTC",
    ]

    later = AsyncIOScheduler(timezone=UTC)
    engine.schedule(later, now, catch_up=False)
    assert not hasattr({j.name: j for j in later.get_jobs()}["tick"], "next_run_time")
