"""No fact about a survivor reaches any message, on any transport, in any part; every
message links to the web app by task id or case reference only."""

import re
from datetime import UTC, datetime, timedelta
from email import message_from_binary_file
from email.policy import default as default_policy

from sqlmodel import select

from engine.calendar_notices import queue_calendar
from engine.core.messages import (
    EscalatedItem,
    EscalationPayload,
    Message,
    ReminderPayload,
    ReplanItem,
    ReplanPayload,
    TaskItem,
    task_item,
)
from engine.outbox import queue
from engine.settings import Settings
from engine.store import Case, Organisation, Staff, Task, session_scope
from notifications.digest import queue_digests
from notifications.dispatch import dispatch
from notifications.testing import Recorder, smtp_server
from tests.conftest import shipped_catalog

NOW = datetime(2027, 1, 5, 9, 0, tzinfo=UTC)
FACTS = {
    "nationality": "ZZUNIQUE",
    "first_language": "ZZLANGUAGE",
    "support_level": "ZZSUPPORT",
    "age": 98765,
}
SECRETS = [str(v) for v in FACTS.values()]
LINK = re.compile(r"http://127\.0\.0\.1:8000/(tasks/[0-9]+|cases/KNT-0042)")


def seed(url: str) -> None:
    """One case with distinctive facts and tasks in every state a message can mention."""
    with session_scope(url) as s:
        s.add(
            Organisation(
                id="kent", name="Kent", calendar="england-and-wales", timezone="Europe/London"
            )
        )
        s.flush()
        lead = Staff(email="lead@example.org", name="Lee", role="team_lead", organisation_id="kent")
        s.add(lead)
        s.flush()
        nav = Staff(
            email="nav@example.org",
            name="Ana",
            role="navigator",
            organisation_id="kent",
            lead_id=lead.id,
        )
        s.add(nav)
        s.flush()
        case = Case(
            ref="KNT-0042",
            journey_id="adult-cjs",
            journey_version="1",
            organisation_id="kent",
            navigator_id=nav.id,
            facts=FACTS,
            opened_at=NOW - timedelta(days=40),
        )
        s.add(case)
        s.flush()
        for i, (due, level) in enumerate(
            [(NOW - timedelta(days=2), 1), (NOW + timedelta(days=2), 0)]
        ):
            s.add(
                Task(
                    case_id=case.id,
                    obligation=f"ob-{i}",
                    occurrence=1,
                    stage="First month",
                    title=f"Obligation {i}",
                    category="accommodation",
                    due=due,
                    precision="day",
                    escalation_level=level,
                    sequence=i,
                    calendar_pending=True,
                )
            )


def queue_engine_messages(url: str) -> None:
    """Queue one message of each kind built from the stored rows, as the sweep does."""
    with session_scope(url) as s:
        case = s.exec(select(Case)).one()
        tasks = s.exec(select(Task).where(Task.case_id == case.id).order_by(Task.id)).all()
        nav = s.get(Staff, case.navigator_id)

        def item(t: Task) -> TaskItem:
            return task_item(
                case=case.ref,
                task_id=t.id,
                title=t.title,
                stage=t.stage,
                category=t.category,
                due=t.due,
                precision=t.precision,
            )

        tz = "Europe/London"
        late = [EscalatedItem(**item(t), level=1, navigator=nav.email) for t in tasks[:1]]
        moved = [
            ReplanItem(
                task_id=t.id,
                title=t.title,
                stage=t.stage,
                category=t.category,
                old_due=t.due.isoformat(),
                new_due=(t.due + timedelta(days=7)).isoformat(),
                precision=t.precision,
                sequence=t.sequence + 1,
            )
            for t in tasks
        ]
        reminder = ReminderPayload(**item(tasks[1]), sequence=0, timezone=tz)
        escalated = EscalationPayload(timezone=tz, items=late)
        replanned = ReplanPayload(case=case.ref, timezone=tz, items=moved)
        messages = [
            Message("r", "reminder", nav.email, case.ref, reminder),
            Message("o", "overdue", nav.email, case.ref, escalated),
            Message("e", "escalation", "lead@example.org", case.ref, escalated),
            Message("p", "replan", nav.email, case.ref, replanned),
        ]
        queue(s, messages, NOW)
        assert queue_calendar(s, shipped_catalog(), NOW) == 2
    assert queue_digests(url, shipped_catalog(), NOW) == 2


def every_text(message) -> str:
    """Headers, every decoded part, and the attachments: all a recipient could see."""
    pieces = [f"{k}: {v}" for k, v in message.items()]
    for part in message.walk():
        if part.is_multipart():
            continue
        pieces.extend(f"{k}: {v}" for k, v in part.items())
        content = part.get_content()
        pieces.append(content.decode() if isinstance(content, bytes) else content)
    return "\n".join(pieces)


def assert_private(messages: list) -> None:
    assert len(messages) == 7
    kinds = set()
    for message in messages:
        seen = every_text(message)
        assert "KNT-0042" in seen or "Digest" in message["Subject"]
        assert "http://127.0.0.1:8000/tasks/" in seen or "/cases/KNT-0042" in seen
        links = re.findall(r"http://127\.0\.0\.1:8000/[^\s\"<>)]*", seen)
        assert links and all(LINK.fullmatch(link) for link in links), links
        kinds.add(str(message["Subject"]).split(":")[0])
        for secret in SECRETS:
            assert secret not in seen, f"{secret} leaked into {message['Subject']}"
    assert kinds == {"[Alongside] Reminder", "[Alongside] Overdue", "[Alongside] Escalation",
                     "[Alongside] Dates changed", "[Alongside] Digest for Tue 5 Jan",
                     "[Alongside] Calendar"}  # fmt: skip


def test_no_fact_reaches_smtp_messages(tmp_path, monkeypatch):
    url = f"sqlite:///{tmp_path}/a.db"
    monkeypatch.setenv("ALONGSIDE_HOME", str(tmp_path))
    seed(url)
    queue_engine_messages(url)
    recorder = Recorder()
    with smtp_server(recorder) as port:
        monkeypatch.setenv("ALONGSIDE_TRANSPORT", "smtp")
        monkeypatch.setenv("ALONGSIDE_SMTP_HOST", "127.0.0.1")
        monkeypatch.setenv("ALONGSIDE_SMTP_PORT", str(port))
        assert dispatch(url, NOW, Settings()).sent == 7
    assert_private(recorder.messages)


def test_no_fact_reaches_eml_files(tmp_path, monkeypatch):
    url = f"sqlite:///{tmp_path}/a.db"
    monkeypatch.setenv("ALONGSIDE_HOME", str(tmp_path))
    monkeypatch.setenv("ALONGSIDE_TRANSPORT", "file")
    seed(url)
    queue_engine_messages(url)
    assert dispatch(url, NOW, Settings()).sent == 7
    messages = []
    for path in sorted((tmp_path / "outbox").glob("*.eml")):
        raw = path.read_bytes()
        assert not any(secret.encode() in raw for secret in SECRETS)
        with open(path, "rb") as handle:
            messages.append(message_from_binary_file(handle, policy=default_policy))
    assert_private(messages)
