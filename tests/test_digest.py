"""Daily digests: the right items for each navigator and team lead, once per local day."""

import json
from datetime import UTC, datetime, timedelta
from email import message_from_binary_file, message_from_bytes
from email.policy import default as default_policy

import pytest
import sqlalchemy as sa
import typer
from sqlmodel import select
from typer.testing import CliRunner

from alongside.sweep import digest_command as digest
from engine.queries import last_contact
from engine.store import Case, Organisation, OutboxMessage, Staff, Task, session_scope
from notifications.digest import queue_digests
from tests.conftest import shipped_catalog

NOW = datetime(2027, 1, 5, 7, 0, tzinfo=UTC)
DAY = timedelta(days=1)


@pytest.fixture
def home(tmp_path, monkeypatch):
    for name in ("ALONGSIDE_DATABASE_URL", "ALONGSIDE_TRANSPORT"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("ALONGSIDE_HOME", str(tmp_path))
    return tmp_path


@pytest.fixture
def url(home):
    return f"sqlite:///{home}/a.db"


class World:
    """A small programme: two organisations, two teams, cases and tasks in every state."""

    def __init__(self, url: str) -> None:
        self.url = url
        self.ids: dict[str, int] = {}
        with session_scope(url) as s:
            s.add(
                Organisation(
                    id="kent", name="Kent", calendar="england-and-wales", timezone="Europe/London"
                )
            )
            s.add(
                Organisation(
                    id="ro", name="Romania", calendar="romania", timezone="Europe/Bucharest"
                )
            )
            s.flush()
            lead = self.staff(s, "lead@example.org", "team_lead", "kent")
            self.staff(s, "idle-lead@example.org", "team_lead", "kent")
            self.staff(s, "nav1@example.org", "navigator", "kent", lead=lead)
            self.staff(s, "nav2@example.org", "navigator", "kent", lead=lead)
            self.staff(s, "ro@example.org", "navigator", "ro")
            self.staff(s, "prog@example.org", "programme_lead", "kent")

    def staff(self, s, email: str, role: str, org: str, lead: int | None = None) -> int:
        person = Staff(
            email=email, name=email.split("@")[0], role=role, organisation_id=org, lead_id=lead
        )
        s.add(person)
        s.flush()
        self.ids[email] = person.id
        return person.id

    def case(
        self, ref: str, navigator: str, *, opened: datetime, status: str = "open", **facts
    ) -> int:
        with session_scope(self.url) as s:
            org = "ro" if navigator.startswith("ro") else "kent"
            case = Case(
                ref=ref,
                journey_id="adult-cjs",
                journey_version="1",
                organisation_id=org,
                navigator_id=self.ids[navigator],
                facts=facts,
                status=status,
                opened_at=opened,
            )
            s.add(case)
            s.flush()
            self.ids[ref] = case.id
            return case.id

    def task(self, ref: str, obligation: str, due: datetime, **fields) -> int:
        with session_scope(self.url) as s:
            task = Task(
                case_id=self.ids[ref],
                obligation=obligation,
                occurrence=fields.pop("occurrence", 1),
                stage=fields.pop("stage", "first-month"),
                title=fields.pop("title", obligation.replace("-", " ").capitalize()),
                category=fields.pop("category", "other"),
                due=due,
                precision=fields.pop("precision", "day"),
                **fields,
            )
            s.add(task)
            s.flush()
            if task.category == "contact":  # what the service keeps as contact tasks close
                case = s.get(Case, task.case_id)
                case.last_contact_at = s.execute(sa.select(last_contact(case.id))).scalar()
            self.ids[f"{ref}/{obligation}"] = task.id
            return task.id


@pytest.fixture
def world(url):
    w = World(url)
    # nav1: one of everything, on a case out of touch for a month.
    w.case("KNT-0001", "nav1@example.org", opened=NOW - 60 * DAY)
    w.task("KNT-0001", "safe-accommodation", NOW - 2 * DAY, escalation_level=1)
    w.task("KNT-0001", "gp-registration", NOW + 3 * DAY)
    w.task("KNT-0001", "bank-account", NOW + 30 * DAY)
    w.task("KNT-0001", "cancelled-one", NOW - 5 * DAY, status="cancelled")
    w.task("KNT-0001", "done-one", NOW - 5 * DAY, status="done", closed_at=NOW - 6 * DAY)
    w.task(
        "KNT-0001",
        "check-in",
        NOW - 31 * DAY,
        category="contact",
        status="done",
        closed_at=NOW - 30 * DAY,
    )
    # nav1: a case in touch (contact done 5 days ago) with nothing due within the week.
    w.case("KNT-0002", "nav1@example.org", opened=NOW - 90 * DAY)
    w.task(
        "KNT-0002",
        "check-in",
        NOW - 6 * DAY,
        category="contact",
        status="done",
        closed_at=NOW - 5 * DAY,
    )
    w.task("KNT-0002", "pre-trial-visit", NOW + 8 * DAY)
    # nav2: a new case (not yet out of touch) with an overdue hour task; a closed case.
    w.case("KNT-0003", "nav2@example.org", opened=NOW - 5 * DAY)
    w.task("KNT-0003", "safe-place", NOW - timedelta(hours=3), precision="hour")
    w.case("KNT-0004", "nav2@example.org", opened=NOW - 90 * DAY, status="closed")
    w.task("KNT-0004", "forgotten", NOW - 9 * DAY)
    # nav2: re-dated into the future but still escalated: the lead should see it.
    w.case("KNT-0005", "nav2@example.org", opened=NOW - 10 * DAY)
    w.task("KNT-0005", "court-visit", NOW + 20 * DAY, escalation_level=2)
    # the Romanian navigator: a case with no contact task at all, opened a month ago.
    w.case("ROU-0001", "ro@example.org", opened=NOW - 30 * DAY)
    return w


def digests(url: str) -> dict[str, dict]:
    with session_scope(url) as s:
        rows = s.exec(select(OutboxMessage).where(OutboxMessage.kind == "digest")).all()
    return {row.recipient: row for row in rows}


def cases_in(items: list[dict]) -> list[tuple[str, int]]:
    return [(item["case"], item["task_id"]) for item in items]


def test_each_person_gets_their_own_items(url, world):
    assert queue_digests(url, shipped_catalog(), NOW) == 4
    found = digests(url)
    assert set(found) == {
        "nav1@example.org",
        "nav2@example.org",
        "lead@example.org",
        "ro@example.org",
    }
    ids = world.ids

    nav1 = found["nav1@example.org"].payload
    assert cases_in(nav1["overdue"]) == [("KNT-0001", ids["KNT-0001/safe-accommodation"])]
    assert nav1["overdue"][0]["level"] == 1
    assert cases_in(nav1["upcoming"]) == [("KNT-0001", ids["KNT-0001/gp-registration"])]
    assert nav1["quiet"] == [{"case": "KNT-0001", "last_contact": (NOW - 30 * DAY).isoformat()}]
    assert nav1["team"] == []

    nav2 = found["nav2@example.org"].payload
    assert cases_in(nav2["overdue"]) == [("KNT-0003", ids["KNT-0003/safe-place"])]
    assert nav2["upcoming"] == [] and nav2["quiet"] == []

    lead = found["lead@example.org"].payload
    assert [(i["case"], i["navigator"]) for i in lead["team"]] == [
        ("KNT-0001", "nav1@example.org"),
        ("KNT-0003", "nav2@example.org"),
        ("KNT-0005", "nav2@example.org"),
    ]
    assert lead["overdue"] == lead["upcoming"] == lead["quiet"] == []

    # Stages appear by the titles the journey gives them, as in reminders.
    assert {i["stage"] for i in nav1["overdue"] + nav1["upcoming"]} == {"First month"}

    ro = found["ro@example.org"].payload
    assert ro["timezone"] == "Europe/Bucharest"
    assert ro["quiet"] == [{"case": "ROU-0001", "last_contact": None}]


def test_an_attempt_that_did_not_reach_the_survivor_is_no_contact(url, world):
    """The digest flags cases without contact by the web pages' rule: a contact task done
    as `not_reached` three days ago leaves a case opened two months ago out of touch."""
    world.case("KNT-0006", "nav2@example.org", opened=NOW - 60 * DAY)
    world.task("KNT-0006", "check-in", NOW - 4 * DAY, category="contact", status="done",
               closed_at=NOW - 3 * DAY, outcome="not_reached")  # fmt: skip
    world.case("KNT-0007", "nav2@example.org", opened=NOW - 60 * DAY)
    world.task("KNT-0007", "check-in", NOW - 4 * DAY, category="contact", status="done",
               closed_at=NOW - 3 * DAY, outcome="reached")  # fmt: skip

    queue_digests(url, shipped_catalog(), NOW)

    nav2 = digests(url)["nav2@example.org"].payload
    assert nav2["quiet"] == [{"case": "KNT-0006", "last_contact": None}]


def test_once_per_recipient_per_local_day(url, world):
    assert queue_digests(url, shipped_catalog(), NOW) == 4
    assert queue_digests(url, shipped_catalog(), NOW + timedelta(hours=10)) == 0
    assert queue_digests(url, shipped_catalog(), NOW + DAY) == 4
    keys = sorted(row.key for row in _all(url))
    assert "digest:nav1@example.org:2027-01-05" in keys
    assert "digest:nav1@example.org:2027-01-06" in keys


def test_local_day_is_the_recipients(url, world):
    late = datetime(2027, 1, 5, 22, 30, tzinfo=UTC)  # already 6 January in Bucharest
    queue_digests(url, shipped_catalog(), late)
    found = digests(url)
    assert found["ro@example.org"].key == "digest:ro@example.org:2027-01-06"
    assert found["nav1@example.org"].key == "digest:nav1@example.org:2027-01-05"


def test_nothing_to_report_means_no_digest(url):
    World(url)
    assert queue_digests(url, shipped_catalog(), NOW) == 0


def _all(url: str) -> list[OutboxMessage]:
    with session_scope(url) as s:
        return list(s.exec(select(OutboxMessage)))


def test_digest_command_queues_then_delivers_to_files(url, world, home, monkeypatch):
    monkeypatch.setenv("ALONGSIDE_DATABASE_URL", url)
    app = typer.Typer()
    app.command()(digest)
    result = CliRunner().invoke(app, ["--now", "2027-01-05T07:00", "--json"])
    assert result.exit_code == 0, result.output
    assert json.loads(result.output) == {"queued": 4, "sent": 4, "retrying": 0, "failed": 0}
    again = CliRunner().invoke(app, ["--now", "2027-01-05T15:00"])
    assert again.output.strip() == "queued 0 digests; sent 0, retrying 0, failed 0"

    files = sorted((home / "outbox").glob("*.eml"))
    assert len(files) == 4
    subjects = {}
    for path in files:
        with open(path, "rb") as handle:
            message = message_from_binary_file(handle, policy=default_policy)
        subjects[message["To"]] = message["Subject"]
        text = message.get_body(("plain",)).get_content()
        assert "Your Alongside digest for" in text
    assert subjects["nav1@example.org"] == (
        "[Alongside] Digest for Tue 5 Jan: 1 overdue, 1 due this week, 1 case to contact"
    )
    assert subjects["lead@example.org"] == "[Alongside] Digest for Tue 5 Jan: 3 on your team"


def test_a_team_digest_lists_each_task_once_by_navigator_and_ladder_step() -> None:
    """Issue 12: a lead reads their team's overdue work per navigator, worst step first."""
    from engine.settings import Settings
    from notifications.render import render_outgoing
    from tests.test_hardening_sweep import _item, _Row

    team = [
        {**_item(1), "navigator": "bo@example.org", "level": 0},
        {**_item(2), "navigator": "ana@example.org", "level": 1},
        {**_item(3), "navigator": "ana@example.org", "level": 2},
        {**_item(4), "navigator": "ana@example.org", "level": 1},
    ]
    payload = {"timezone": "Europe/London", "date": "2027-03-01", "quiet_days": 21,
               "overdue": [], "upcoming": [], "quiet": [], "team": team}  # fmt: skip
    outgoing = render_outgoing(_Row("digest", payload), Settings(), datetime.now(UTC))
    text = message_from_bytes(outgoing.data, policy=default_policy).get_body(("plain",))
    body = text.get_content()
    ana, bo = body.index("ana@example.org:"), body.index("bo@example.org:")
    step2, step1 = body.index("Escalation step 2", ana), body.index("Escalation step 1", ana)
    assert ana < step2 < step1 < bo  # navigators in order; the highest step first
    assert body.index("KNT-0003") < body.index("KNT-0002") < body.index("KNT-0004")
    assert body.index("Overdue, not escalated", bo) > bo
    for n in range(1, 5):
        assert body.count(f"KNT-{n:04d}:") == 1  # each task once
