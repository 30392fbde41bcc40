"""Rendering outbox rows into email: subjects, local times, both bodies, links, guidance and
calendar entries (in `calendar` messages only)."""

from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from icalendar import Calendar

from engine.core.messages import (
    CalendarItem,
    CalendarPayload,
    EscalatedItem,
    ReminderPayload,
    ReplanItem,
    ReplanPayload,
)
from engine.settings import Settings
from engine.store import OutboxMessage
from notifications.render import KINDS, due_text, how_long, message_id, render, seen_precision

NOW = datetime(2027, 1, 5, 9, 0, tzinfo=UTC)
SETTINGS = Settings(mail_from="alongside@navigators.example.org")


def row(kind: str, payload: dict, *, id: int = 1, key: str | None = None, **extra) -> OutboxMessage:
    return OutboxMessage(
        id=id,
        key=key or f"{kind}:{id}",
        kind=kind,
        recipient=extra.pop("recipient", "nav@example.org"),
        case_ref=payload.get("case"),
        payload=payload,
        created_at=extra.pop("created_at", NOW),
        **extra,
    )


def reminder(**changes) -> ReminderPayload:
    payload: ReminderPayload = {
        "case": "KNT-0042",
        "task_id": 17,
        "title": "Safe accommodation arranged",
        "stage": "First month",
        "category": "accommodation",
        "due": "2027-01-05T23:59:59+00:00",
        "precision": "day",
        "sequence": 0,
        "timezone": "Europe/London",
    }
    return payload | changes


def overdue_item(**changes) -> EscalatedItem:
    item: EscalatedItem = {
        "case": "KNT-0042",
        "task_id": 17,
        "title": "Safe accommodation arranged",
        "stage": "First month",
        "category": "accommodation",
        "due": "2027-01-04T12:00:00+00:00",
        "precision": "hour",
        "level": 1,
        "navigator": "nav@example.org",
    }
    return item | changes


def replan(*items: ReplanItem) -> ReplanPayload:
    return {"case": "KNT-0042", "timezone": "Europe/London", "items": list(items)}


def replan_item(**changes) -> ReplanItem:
    item: ReplanItem = {
        "task_id": 31,
        "title": "Pre-trial court visit done",
        "stage": "Trial preparation",
        "category": "court",
        "old_due": "2027-03-01T23:59:59+00:00",
        "new_due": "2027-04-12T22:59:59+00:00",
        "precision": "day",
        "sequence": 2,
    }
    return item | changes


def parts(message) -> tuple[str, str, Calendar | None]:
    text = message.get_body(("plain",)).get_content()
    html = message.get_body(("html",)).get_content()
    calendars = all_calendars(message)
    assert len(calendars) <= 1
    return text, html, calendars[0] if calendars else None


def all_calendars(message) -> list[Calendar]:
    return [
        Calendar.from_ical(p.get_content())
        for p in message.iter_attachments()
        if p.get_content_type() == "text/calendar"
    ]


def calendar_item(**changes) -> CalendarItem:
    item: CalendarItem = {
        "case": "KNT-0042",
        "task_id": 17,
        "title": "Safe accommodation arranged",
        "stage": "First month",
        "category": "accommodation",
        "due": "2027-01-05T23:59:59+00:00",
        "precision": "day",
        "guidance": "A safe place to stay tonight.",
        "uid": "task-17@abc.alongside",
        "method": "REQUEST",
        "sequence": 0,
    }
    return item | changes


def calendar(*items: CalendarItem) -> CalendarPayload:
    return {"timezone": "Europe/London", "items": list(items)}


def events(calendar: Calendar) -> list:
    return list(calendar.walk("VEVENT"))


def test_reminder_day_precision_subject_bodies_and_link():
    message = render(row("reminder", reminder()), SETTINGS, NOW)
    assert message["Subject"] == (
        "[Alongside] Reminder: KNT-0042 — Safe accommodation arranged due Tue 5 Jan"
    )
    assert message["From"] == "alongside@navigators.example.org"
    assert message["To"] == "nav@example.org"
    assert message["Date"].datetime == NOW
    text, html, calendar = parts(message)
    assert "by end of Tue 5 Jan 2027" in text
    assert "Open the task: http://127.0.0.1:8000/tasks/17" in text
    assert "alongside task" not in text  # people act on the web app, not at a shell
    assert "by end of Tue 5 Jan 2027" in html and "<strong>KNT-0042</strong>" in html
    assert 'href="http://127.0.0.1:8000/tasks/17"' in html
    assert calendar is None  # calendar entries come in `calendar` messages


def test_calendar_day_entry_is_all_day_with_the_installation_uid():
    message = render(row("calendar", calendar(calendar_item())), SETTINGS, NOW)
    assert message["Subject"] == "[Alongside] Calendar: 1 deadline to add or move (KNT-0042)"
    text, html, ics = parts(message)
    assert "http://127.0.0.1:8000/tasks/17" in text and "A safe place to stay tonight." in html
    assert ics["METHOD"] == "REQUEST"
    (event,) = events(ics)
    assert str(event["UID"]) == "task-17@abc.alongside"
    assert event["SEQUENCE"] == 0
    assert event.decoded("DTSTART") == date(2027, 1, 5)
    assert event.decoded("DTEND") == date(2027, 1, 6)
    assert str(event["SUMMARY"]) == "Due: KNT-0042 — Safe accommodation arranged"
    assert str(event["ORGANIZER"]) == "mailto:alongside@navigators.example.org"
    assert str(event["ATTENDEE"]) == "mailto:nav@example.org"
    assert str(event["URL"]) == "http://127.0.0.1:8000/tasks/17"
    assert not event.walk("VALARM")


def test_calendar_hour_entry_has_an_end_and_an_alarm_and_a_cancel_has_neither():
    item = calendar_item(due="2027-06-01T13:00:00+00:00", precision="hour", sequence=3)
    cancel = calendar_item(task_id=18, uid="task-18@abc.alongside", method="CANCEL", sequence=2)
    message = render(row("calendar", calendar(item, cancel)), SETTINGS, NOW)
    request, cancelled = all_calendars(message)
    (event,) = events(request)
    assert event.decoded("DTSTART") == datetime(2027, 6, 1, 13, 0, tzinfo=UTC)
    assert event.decoded("DTEND") == datetime(2027, 6, 1, 13, 30, tzinfo=UTC)
    assert event["SEQUENCE"] == 3
    (alarm,) = event.walk("VALARM")
    assert alarm.decoded("TRIGGER") == -timedelta(hours=1)
    assert cancelled["METHOD"] == "CANCEL"
    (gone,) = events(cancelled)
    assert (str(gone["UID"]), gone["SEQUENCE"], str(gone["STATUS"])) == (
        "task-18@abc.alongside", 2, "CANCELLED",
    )  # fmt: skip


def test_day_deadline_shows_the_recipients_local_date_not_the_utc_one():
    # End of 1 June in Bucharest is 20:59:59 UTC; in London summer time 22:59:59 UTC.
    bucharest = reminder(due="2027-06-01T20:59:59+00:00", timezone="Europe/Bucharest")
    message = render(row("reminder", bucharest), SETTINGS, NOW)
    text, _, _ = parts(message)
    assert "by end of Tue 1 Jun 2027" in text
    item = calendar_item(due="2027-06-01T20:59:59+00:00")
    in_bucharest = calendar(item) | {"timezone": "Europe/Bucharest"}
    ics = parts(render(row("calendar", in_bucharest), SETTINGS, NOW))[2]
    assert events(ics)[0].decoded("DTSTART") == date(2027, 6, 1)


def test_a_day_deadline_on_another_clock_shows_its_time_where_it_is_read():
    # A Victims' Code duty of the Romanian journey ends a London day: 23:59:59 GMT on
    # Tue 2 Mar is 01:59:59 on Wed 3 Mar in Bucharest. "By end of Wed 3 Mar" would let
    # the Romanian team act a day late; the message says the hour instead.
    london_end = "2027-03-02T23:59:59+00:00"
    bucharest = ZoneInfo("Europe/Bucharest")
    moment = datetime.fromisoformat(london_end)
    assert seen_precision(moment, "day", bucharest) == "hour"
    assert seen_precision(moment, "day", ZoneInfo("Europe/London")) == "day"
    assert seen_precision(moment, "hour", ZoneInfo("Europe/London")) == "hour"
    assert due_text(london_end, "day", bucharest) == "by 01:59 EET on Wed 3 Mar 2027"
    payload = reminder(due=london_end, timezone="Europe/Bucharest")
    message = render(row("reminder", payload), SETTINGS, NOW)
    assert message["Subject"].endswith("due Wed 3 Mar 01:59")
    assert "by 01:59 EET on Wed 3 Mar 2027" in parts(message)[0]
    item = calendar_item(due=london_end)
    ics = parts(
        render(row("calendar", calendar(item) | {"timezone": "Europe/Bucharest"}), SETTINGS, NOW)
    )[2]
    (event,) = events(ics)
    assert event.decoded("DTSTART") == datetime(2027, 3, 2, 23, 59, 59, tzinfo=UTC)  # timed


def test_hour_deadline_shows_local_time_with_zone():
    payload = reminder(due="2027-06-01T13:00:00+00:00", precision="hour", sequence=3)
    message = render(row("reminder", payload), SETTINGS, NOW)
    assert message["Subject"].endswith("due Tue 1 Jun 14:00")
    text, html, _ = parts(message)
    assert "by 14:00 BST on Tue 1 Jun 2027" in text
    assert "by 14:00 BST on Tue 1 Jun 2027" in html


def test_escalation_combines_tasks_and_says_how_overdue():
    payload = {
        "timezone": "Europe/London",
        "items": [
            overdue_item(),
            overdue_item(
                case="KNT-0043",
                task_id=18,
                title="Registered with a GP",
                category="health",
                due="2027-01-01T23:59:59+00:00",
                precision="day",
                level=2,
                navigator="ana@example.org",
            ),
        ],
    }
    message = render(row("escalation", payload, recipient="lead@example.org"), SETTINGS, NOW)
    assert message["Subject"] == "[Alongside] Escalation: 2 overdue tasks on KNT-0042, KNT-0043"
    text, html, calendar = parts(message)
    assert calendar is None
    assert "by 12:00 GMT on Mon 4 Jan 2027; overdue by 21 hours" in text
    assert "by end of Fri 1 Jan 2027; overdue by 3 days" in text
    assert "Navigator: ana@example.org; escalation step 2; task 18" in text
    assert "ana@example.org" in html and "21 hours" in html


def test_single_overdue_task_names_it_in_the_subject():
    payload = {"timezone": "Europe/London", "items": [overdue_item()]}
    message = render(row("overdue", payload), SETTINGS, NOW)
    assert message["Subject"] == (
        "[Alongside] Overdue: KNT-0042 — Safe accommodation arranged overdue by 21 hours"
    )
    text, _, _ = parts(message)
    assert "A task on case KNT-0042 is overdue." in text


def test_replan_notice_lists_old_and_new_dates_with_links():
    items = [
        replan_item(),
        replan_item(
            task_id=32,
            title="Travel and interpreter arranged",
            new_due="2027-04-19T13:00:00+00:00",
            old_due="2027-03-08T14:00:00+00:00",
            precision="hour",
            sequence=1,
        ),
    ]
    message = render(row("replan", replan(*items)), SETTINGS, NOW)
    assert message["Subject"] == "[Alongside] Dates changed: KNT-0042 — 2 tasks re-dated"
    text, html, calendar = parts(message)
    assert "was due by end of Mon 1 Mar 2027" in text
    assert "now due by end of Mon 12 Apr 2027" in text
    assert "now due by 14:00 BST on Mon 19 Apr 2027" in text
    assert "<s>by end of Mon 1 Mar 2027</s>" in html
    assert "Open the case: http://127.0.0.1:8000/cases/KNT-0042" in text
    assert "http://127.0.0.1:8000/tasks/32" in text and "/tasks/31" in html
    assert calendar is None


def test_links_use_the_base_url_setting_and_escape_the_reference():
    settings = Settings(base_url="https://alongside.example.org/app/")
    payload = {"timezone": "UTC", "items": [overdue_item(case="KNT 1/2")]}
    text, _, _ = parts(render(row("overdue", payload), settings, NOW))
    assert "https://alongside.example.org/app/tasks/17" in text
    message = render(row("replan", replan(replan_item()) | {"case": "KNT 1/2"}), settings, NOW)
    assert "https://alongside.example.org/app/cases/KNT%201%2F2" in parts(message)[0]


def test_html_is_autoescaped_and_text_is_not():
    payload = reminder(title="Visit <script>alert(1)</script> & check")
    text, html, _ = parts(render(row("reminder", payload), SETTINGS, NOW))
    assert "Visit <script>alert(1)</script> & check" in text
    assert "<script>" not in html
    assert "Visit &lt;script&gt;alert(1)&lt;/script&gt; &amp; check" in html


def test_message_id_is_derived_from_row_id_and_key():
    one = row("reminder", reminder(), id=7, key="reminder:17:0")
    again = row("reminder", reminder(), id=7, key="reminder:17:0")
    other = row("reminder", reminder(), id=7, key="reminder:17:1")
    assert message_id(one, SETTINGS) == message_id(again, SETTINGS)
    assert message_id(one, SETTINGS) != message_id(other, SETTINGS)
    assert message_id(one, SETTINGS).endswith("@navigators.example.org>")
    later = NOW + timedelta(hours=3)
    assert render(one, SETTINGS, NOW)["Message-ID"] == render(again, SETTINGS, later)["Message-ID"]


def test_digest_lists_each_section():
    payload = {
        "timezone": "Europe/London",
        "date": "2027-01-05",
        "quiet_days": 21,
        "overdue": [overdue_item()],
        "upcoming": [overdue_item(task_id=19, due="2027-01-08T23:59:59+00:00", precision="day")],
        "quiet": [
            {"case": "KNT-0050", "last_contact": None},
            {"case": "KNT-0051", "last_contact": "2026-12-01T10:00:00+00:00"},
        ],
        "team": [],
    }
    message = render(row("digest", payload, key="digest:nav@example.org:2027-01-05"), SETTINGS, NOW)
    assert message["Subject"] == (
        "[Alongside] Digest for Tue 5 Jan: 1 overdue, 1 due this week, 2 cases to contact"
    )
    text, html, calendar = parts(message)
    assert calendar is None
    assert "Overdue (1):" in text and "overdue by 21 hours" in text
    assert "due by end of Fri 8 Jan 2027" in text
    assert "KNT-0050: no contact task done yet" in text
    assert "KNT-0051: last contact task done Tue 1 Dec 2026" in text
    assert "Your team" not in text
    assert "Due in the next 7 days (1)" in html


@pytest.mark.parametrize("kind", KINDS)
def test_every_kind_has_both_templates_and_an_auto_submitted_header(kind):
    payloads = {
        "reminder": reminder(),
        "overdue": {"timezone": "Europe/London", "items": [overdue_item()]},
        "escalation": {"timezone": "Europe/London", "items": [overdue_item()]},
        "replan": replan(replan_item()),
        "digest": {"timezone": "UTC", "date": "2027-01-05", "overdue": [overdue_item()]},
        "handover": {
            "direction": "to",
            "cases": ["KNT-0042"],
            "other": "nav2@example.org",
            "open_tasks": 3,
        },
        "calendar": calendar(calendar_item()),
        "unreached": {
            **reminder(),
            "failures": 3,
            "navigator": "nav@example.org",
        },
        "signin": {"token": "abc", "minutes": 15},
    }
    message = render(row(kind, payloads[kind]), SETTINGS, NOW)
    text, html, _ = parts(message)
    assert text.strip() and html.strip().startswith("<!DOCTYPE html>")
    assert message["Auto-Submitted"] == "auto-generated"
    assert message["Subject"].startswith("[Alongside] ")


def test_due_text_and_durations():
    tz = ZoneInfo("Europe/London")
    assert due_text("2027-10-31T23:59:59+00:00", "day", tz) == "by end of Sun 31 Oct 2027"
    assert due_text("2027-10-31T01:30:00+00:00", "hour", tz) == "by 01:30 GMT on Sun 31 Oct 2027"
    assert how_long(timedelta(minutes=59)) == "less than an hour"
    assert how_long(timedelta(hours=1)) == "1 hour"
    assert how_long(timedelta(hours=47)) == "47 hours"
    assert how_long(timedelta(days=3, hours=23)) == "3 days"


@pytest.mark.parametrize(
    "title",
    [
        "Întâlnire cu avocatul pentru pregătirea declarației în instanță 🙂 și transport",
        "A very long obligation title written by a programme lead who likes detail and more",
        "Short",
    ],
)
def test_subjects_survive_encoding_and_every_line_fits(title):
    from notifications.render import render_outgoing

    outgoing = render_outgoing(row("reminder", reminder(title=title)), SETTINGS, NOW)
    assert max(len(line) for line in outgoing.data.split(b"\r\n")) <= 78
    assert b"\n" not in outgoing.data.replace(b"\r\n", b"")
    message = render(row("reminder", reminder(title=title)), SETTINGS, NOW)
    assert message["Subject"] == f"[Alongside] Reminder: KNT-0042 — {title} due Tue 5 Jan"
    text, html, _ = parts(message)
    assert title in text and title in html
    ics = parts(render(row("calendar", calendar(calendar_item(title=title))), SETTINGS, NOW))[2]
    assert str(events(ics)[0]["SUMMARY"]) == f"Due: KNT-0042 — {title}"


def test_an_unreached_message_says_how_many_attempts_failed_and_what_to_do():
    payload = {
        **reminder(guidance="Try another time of day."),
        "failures": 3,
        "navigator": "nav@example.org",
    }
    message = render(row("unreached", payload), SETTINGS, NOW)
    assert message["Subject"] == (
        f"[Alongside] Not reached: {payload['case']} — 3 contact attempts in a row"
    )
    text, html, calendar = parts(message)
    assert calendar is None
    assert "have not reached the survivor 3 times in a row" in text
    assert "Navigator:  nav@example.org" in text
    assert f"Guidance: {payload['guidance']}" in text
    assert "3 times in a row" in html
