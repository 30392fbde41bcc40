"""Outbox rows -> email messages: subject, text and HTML bodies, calendar attachment.

Rendering is pure given the row, the settings and `now`: the same row renders to the same
message (bar its Date header and the calendar's DTSTAMP), and above all to the same
`Message-ID`, so a resend after a crash is recognisably the same message.

Privacy: the payloads the engine queues hold a case reference, task titles from the
journey, dates and staff addresses; never a survivor's facts or names. Templates only ever
see the view built here from the payload, so nothing else can leak into a message.

Links: every message about a task or case links to it on the web app
(`{base_url}/tasks/{id}`, `{base_url}/cases/{ref}`, `ALONGSIDE_BASE_URL`): the id and the
reference only, so a link says no more than the message. Each task shows the obligation's
guidance from the journey.

Calendar entries travel in `calendar` messages only (docs/notifications.md): one iTIP
object per task, attached side by side, because iTIP allows one UID per REQUEST or CANCEL
object. Each task keeps the UID `task-{id}@{installation id}` and every entry sent for it
has a higher SEQUENCE, so a re-dated entry moves the one on the navigator's calendar and a
CANCEL removes it. A day-precision deadline ("by end of Tue 5 Jan") is an all-day,
transparent event on that local date: it shows on the right day without a made-up time and
blocks no free/busy time. An hour-precision deadline is a half-hour event starting at the
due instant, with an alarm an hour before.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from email import message_from_bytes
from email.message import EmailMessage
from email.policy import default as default_policy
from email.utils import format_datetime, formataddr, parseaddr
from functools import cache, lru_cache
from pathlib import Path
from typing import Any, Protocol, get_args
from urllib.parse import quote
from zoneinfo import ZoneInfo

from jinja2 import Environment, FileSystemLoader, StrictUndefined, select_autoescape

from engine.addresses import AddressError, check_address
from engine.core.messages import (
    CalendarPayload,
    DigestPayload,
    EscalationPayload,
    HandoverPayload,
    MessageKind,
    ReminderPayload,
    ReplanPayload,
    SignInPayload,
    TaskItem,
    UnreachedPayload,
)
from engine.settings import Settings

KINDS: tuple[MessageKind, ...] = get_args(MessageKind)
TEMPLATES = Path(__file__).resolve().parent / "templates"
PRODID = "-//Alongside//Task deadlines//EN"
HOUR_EVENT = timedelta(minutes=30)  # an hour-precision deadline's length on a calendar
ALARM_BEFORE = timedelta(hours=1)


@dataclass(frozen=True, slots=True)
class Links:
    """Addresses on the web app: a task by id, a case by reference, nothing else."""

    base: str = "http://127.0.0.1:8000"

    def task(self, task_id: int) -> str:
        return f"{self.base.rstrip('/')}/tasks/{int(task_id)}"

    def case(self, ref: str) -> str:
        return f"{self.base.rstrip('/')}/cases/{quote(ref, safe='')}"

    def sign_in(self, token: str, next_path: str | None = None) -> str:
        """A sign-in link: it opens a page whose button (a POST) uses the token; `next_path`
        is the page of this site it goes on to."""
        link = f"{self.base.rstrip('/')}/sign-in/{quote(token, safe='')}"
        return f"{link}?next={quote(next_path, safe='/')}" if next_path else link

    def work(self) -> str:
        """The recipient's own list of tasks: where "and N more" sends them."""
        return f"{self.base.rstrip('/')}/work"


class OutboxRow(Protocol):
    """What rendering reads from an outbox row: an `OutboxMessage`, or a plain result row."""

    id: int
    key: str
    kind: MessageKind
    recipient: str
    case_ref: str | None
    payload: dict[str, Any]
    created_at: datetime
    attempts: int


@dataclass(frozen=True, slots=True)
class Rendered:
    """What a template pair produced: the message's subject and its two bodies."""

    subject: str
    text: str
    html: str


@cache
def _environment() -> Environment:
    # Autoescape the HTML templates only: the text bodies are not markup. Templates ship
    # with the code, so they are not re-checked on disk for every message.
    return Environment(
        loader=FileSystemLoader(TEMPLATES),
        auto_reload=False,
        autoescape=select_autoescape(["html"]),
        undefined=StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
        keep_trailing_newline=True,
    )


# --- dates as people read them ----------------------------------------------------------


def _zone(payload: dict[str, Any]) -> ZoneInfo:
    return ZoneInfo(payload.get("timezone") or "UTC")


def _instant(text: str) -> datetime:
    moment = datetime.fromisoformat(text)
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def day_text(d: date | datetime) -> str:
    """'Tue 5 Jan 2027' (no platform-specific strftime flags)."""
    return f"{d:%a} {d.day} {d:%b %Y}"


def seen_precision(due: datetime, precision: str, tz: ZoneInfo) -> str:
    """How a deadline reads in `tz`: a day deadline as its day only where it ends that
    local day, else with its time ("hour").

    A day deadline on another clock ends someone else's day: the Romanian journey's
    Victims' Code duties end a London day, at 01:59 in Bucharest, and "by end of Wed 3 Mar"
    would let the Romanian team act a day late. Every place that shows a due date (emails,
    calendar invitations, the web pages, the CLI) asks this first.
    """
    local = due.astimezone(tz)
    ends_day = (local.hour, local.minute, local.second) == (23, 59, 59)
    return "day" if precision == "day" and ends_day else "hour"


def due_text(due: datetime | str, precision: str, tz: ZoneInfo) -> str:
    """'by end of Tue 5 Jan 2027' for day deadlines, 'by 14:00 GMT on Tue 5 Jan 2027' for hours."""
    local = (_instant(due) if isinstance(due, str) else due).astimezone(tz)
    if seen_precision(local, precision, tz) == "day":
        return f"by end of {day_text(local)}"
    return f"by {local:%H:%M %Z} on {day_text(local)}"


def due_short(due: str, precision: str, tz: ZoneInfo) -> str:
    """The subject line's form: 'Tue 5 Jan', or 'Tue 5 Jan 14:00' for hour deadlines."""
    local = _instant(due).astimezone(tz)
    short = f"{local:%a} {local.day} {local:%b}"
    return short if seen_precision(local, precision, tz) == "day" else f"{short} {local:%H:%M}"


def how_long(delta: timedelta) -> str:
    """A rounded-down duration: 'less than an hour', '5 hours', '3 days'."""
    hours = int(delta.total_seconds() // 3600)
    if hours < 1:
        return "less than an hour"
    if hours < 48:
        return f"{hours} hour{'s' if hours != 1 else ''}"
    return f"{hours // 24} days"


def _plural(n: int, word: str) -> str:
    return f"{n} {word}{'' if n == 1 else 's'}"


def _refs(items: list[dict[str, Any]], most: int = 3) -> str:
    """'KNT-0042, KNT-0043 and 2 more': the case references of some items, for a subject."""
    refs = list(dict.fromkeys(item["case"] for item in items))
    shown = ", ".join(refs[:most])
    return shown if len(refs) <= most else f"{shown} and {len(refs) - most} more"


# --- one view per kind ------------------------------------------------------------------


def _task_view(item: TaskItem, tz: ZoneInfo, as_of: datetime, links: Links) -> dict[str, Any]:
    """The fields a template may show for one task: nothing beyond the payload's own."""
    due = _instant(item["due"])
    return {
        "link": links.task(item["task_id"]),
        "case_link": links.case(item["case"]),
        "guidance": item.get("guidance"),
        "case": item["case"],
        "task_id": item["task_id"],
        "title": item["title"],
        "stage": item["stage"],
        "category": item["category"],
        "due_text": due_text(item["due"], item["precision"], tz),
        "overdue_by": how_long(as_of - due) if as_of > due else None,
        "level": item.get("level") or 0,
        "navigator": item.get("navigator"),
    }


View = tuple[str, dict[str, Any]]  # (subject, template context)

MAX_LISTED = 50  # tasks one email lists; a long catch-up says "and N more" instead


class Listing:
    """The tasks an email lists: the first `MAX_LISTED`, and how many there are in all.

    Templates count it (`items|length` is the total, for headings) and iterate it (the
    first 50), and say `and {{ items.more }} more` when it was cut: an escalation after an
    outage once listed 9,000 tasks in a 1.1 MB message nobody could act on.
    """

    def __init__(self, items: list[dict[str, Any]]) -> None:
        self.total = len(items)
        self.shown = items[:MAX_LISTED]
        self.more = self.total - len(self.shown)

    def __len__(self) -> int:
        return self.total

    def __iter__(self):
        return iter(self.shown)

    def __getitem__(self, index: int) -> dict[str, Any]:
        return self.shown[index]


def _reminder(payload: ReminderPayload, tz: ZoneInfo, as_of: datetime, links: Links) -> View:
    task = _task_view(payload, tz, as_of, links)
    short = due_short(payload["due"], payload["precision"], tz)
    return f"Reminder: {task['case']} — {task['title']} due {short}", {"task": task}


def _unreached(payload: UnreachedPayload, tz: ZoneInfo, as_of: datetime, links: Links) -> View:
    task = _task_view(payload, tz, as_of, links)
    subject = f"Not reached: {task['case']} — {payload['failures']} contact attempts in a row"
    return subject, {"task": task, "failures": payload["failures"]}


def _escalated(
    kind: MessageKind, payload: EscalationPayload, tz: ZoneInfo, as_of: datetime, links: Links
) -> View:
    items = [_task_view(item, tz, as_of, links) for item in payload["items"]]
    if len(items) == 1:
        only = items[0]
        label = "Overdue" if kind == "overdue" else "Escalation"
        late = f" overdue by {only['overdue_by']}" if only["overdue_by"] else " overdue"
        subject = f"{label}: {only['case']} — {only['title']}{late}"
    elif kind == "overdue":
        subject = f"Overdue: {len(items)} tasks on {_refs(payload['items'])}"
    else:
        subject = f"Escalation: {len(items)} overdue tasks on {_refs(payload['items'])}"
    return subject, {"items": Listing(items)}


def _replan(payload: ReplanPayload, tz: ZoneInfo, links: Links) -> View:
    items = [
        {
            "link": links.task(item["task_id"]),
            "guidance": item.get("guidance"),
            "task_id": item["task_id"],
            "title": item["title"],
            "stage": item["stage"],
            "category": item["category"],
            "old_due_text": due_text(item["old_due"], item["precision"], tz),
            "new_due_text": due_text(item["new_due"], item["precision"], tz),
        }
        for item in payload["items"]
    ]
    subject = f"Dates changed: {payload['case']} — {_plural(len(items), 'task')} re-dated"
    return subject, {
        "case": payload["case"],
        "case_link": links.case(payload["case"]),
        "items": items,
    }


def _calendar(payload: CalendarPayload, tz: ZoneInfo, as_of: datetime, links: Links) -> View:
    items = [
        {**_task_view(item, tz, as_of, links), "method": item["method"]}
        for item in payload["items"]
    ]
    added = sum(1 for item in items if item["method"] == "REQUEST")
    removed = len(items) - added
    counts = [
        f"{_plural(added, 'deadline')} to add or move" if added else "",
        f"{_plural(removed, 'deadline')} to remove" if removed else "",
    ]
    subject = f"Calendar: {' and '.join(c for c in counts if c)} ({_refs(payload['items'])})"
    return subject, {"items": items}


def _digest(payload: DigestPayload, tz: ZoneInfo, as_of: datetime, links: Links) -> View:
    sections = {
        name: Listing([_task_view(item, tz, as_of, links) for item in payload.get(name, [])])
        for name in ("overdue", "upcoming", "team")
    }
    quiet = [
        {
            "case": item["case"],
            "case_link": links.case(item["case"]),
            "last_contact": day_text(_instant(item["last_contact"]).astimezone(tz))
            if item.get("last_contact")
            else None,
        }
        for item in payload.get("quiet", [])
    ]
    quiet = Listing(quiet)
    day = date.fromisoformat(payload["date"])
    counts = [
        f"{len(sections['overdue'])} overdue" if sections["overdue"] else "",
        f"{len(sections['upcoming'])} due this week" if sections["upcoming"] else "",
        _plural(len(quiet), "case") + " to contact" if quiet else "",
        f"{len(sections['team'])} on your team" if sections["team"] else "",
    ]
    subject = f"Digest for {day:%a} {day.day} {day:%b}: " + ", ".join(c for c in counts if c)
    return subject, {
        "day_text": day_text(day),
        "quiet_days": payload.get("quiet_days", 21),
        "quiet": quiet,
        **sections,
    }


def _handover(payload: HandoverPayload) -> View:
    cases = list(payload["cases"])
    count_text = cases[0] if len(cases) == 1 else _plural(len(cases), "case")
    way = "to you from" if payload["direction"] == "to" else "from you to"
    subject = f"Handover: {_refs([{'case': c} for c in cases])} {way} {payload['other']}"
    return subject, {
        "direction": payload["direction"],
        "cases": cases,
        "other": payload["other"],
        "count_text": f"Case {count_text}" if len(cases) == 1 else count_text.capitalize(),
        "open_tasks_text": _plural(payload["open_tasks"], "task").capitalize(),
    }


def _sign_in(payload: SignInPayload, links: Links) -> View:
    link = links.sign_in(payload["token"], payload.get("next"))
    return "Your sign-in link", {"link": link, "minutes": payload["minutes"]}


def _view(row: OutboxRow, links: Links) -> View:
    """(subject, template context) for a row; the subject never holds more than the body."""
    payload: Any = row.payload  # stored JSON: its shape is the kind's payload type
    tz = _zone(payload)
    as_of = row.created_at
    kind = row.kind
    if kind == "reminder":
        return _reminder(payload, tz, as_of, links)
    if kind in ("overdue", "escalation"):
        return _escalated(kind, payload, tz, as_of, links)
    if kind == "replan":
        return _replan(payload, tz, links)
    if kind == "digest":
        return _digest(payload, tz, as_of, links)
    if kind == "calendar":
        return _calendar(payload, tz, as_of, links)
    if kind == "handover":
        return _handover(payload)
    if kind == "unreached":
        return _unreached(payload, tz, as_of, links)
    if kind == "signin":
        return _sign_in(payload, links)
    raise ValueError(f"unknown message kind {kind!r}")


def render_bodies(row: OutboxRow, links: Links = Links()) -> Rendered:
    """Subject, text and HTML for a row, from `templates/{kind}.txt` and `.html`."""
    subject, context = _view(row, links)
    context = {**context, "work_link": links.work()}
    env = _environment()
    return Rendered(
        subject=f"[Alongside] {subject}",
        text=env.get_template(f"{row.kind}.txt").render(context),
        html=env.get_template(f"{row.kind}.html").render(context),
    )


# --- calendar ---------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class CalendarPart:
    """One task's iTIP object, attached to a `calendar` message."""

    filename: str
    method: str
    data: bytes


def calendar_parts(row: OutboxRow, settings: Settings, now: datetime) -> list[CalendarPart]:
    """The iTIP objects of a `calendar` message, one per task; none for other kinds."""
    if row.kind != "calendar":
        return []
    payload: Any = row.payload
    tz = _zone(payload)
    links = Links(settings.base_url)
    organizer = _sender(settings.mail_from)[1]
    return [
        CalendarPart(
            f"task-{item['task_id']}.ics",
            item["method"],
            _itip(item, tz, links, organizer, row.recipient, now),
        )
        for item in payload["items"]
    ]


def _itip(
    item: dict[str, Any], tz: ZoneInfo, links: Links, organizer: str, attendee: str, now: datetime
) -> bytes:
    from icalendar import Alarm, Calendar, Event, vCalAddress

    method = item["method"]
    calendar = Calendar()
    calendar.add("prodid", PRODID)
    calendar.add("version", "2.0")
    calendar.add("calscale", "GREGORIAN")
    calendar.add("method", method)
    event = Event()
    event.add("uid", item["uid"])
    event.add("sequence", int(item["sequence"]))
    event.add("dtstamp", now.astimezone(UTC))
    event.add("organizer", vCalAddress(f"mailto:{organizer}"))
    event.add("attendee", vCalAddress(f"mailto:{attendee}"), parameters={"RSVP": "FALSE"})
    event.add("summary", f"Due: {item['case']} — {item['title']}")
    link = links.task(item["task_id"])
    event.add("url", link)
    lines = [
        f"Task {item['task_id']} on case {item['case']} ({item['stage']}), "
        f"due {due_text(item['due'], item['precision'], tz)}.",
        item.get("guidance") or "",
        f"Open it: {link}",
    ]
    event.add("description", "\n\n".join(line for line in lines if line))
    event.add("status", "CONFIRMED" if method == "REQUEST" else "CANCELLED")
    due = _instant(item["due"])
    if seen_precision(due, item["precision"], tz) == "day":
        local_day = due.astimezone(tz).date()
        event.add("dtstart", local_day)
        event.add("dtend", local_day + timedelta(days=1))
        event.add("transp", "TRANSPARENT")
    else:
        event.add("dtstart", due.astimezone(UTC))
        event.add("dtend", (due + HOUR_EVENT).astimezone(UTC))
        if method == "REQUEST":
            alarm = Alarm()
            alarm.add("action", "DISPLAY")
            alarm.add("description", f"Due: {item['case']} — {item['title']}")
            alarm.add("trigger", -ALARM_BEFORE)
            event.add_component(alarm)
    calendar.add_component(event)
    return calendar.to_ical(sorted=False)  # property order carries no meaning; sorting costs


# --- the message ------------------------------------------------------------------------
#
# The MIME structure is fixed and small, so it is written out directly rather than built
# with `email.message` objects and flattened: the result parses to the same structure
# (the tests read every message back with the `email` package) and costs a tenth of the
# CPU, which is most of what dispatch spends per message besides the network. Bodies are
# quoted-printable (readable in a raw .eml, 7-bit safe for any relay), the calendar is
# base64, lines end CRLF as RFC 5322 wants, and boundaries begin with "=_", which can
# occur in neither encoding.

CRLF = "\r\n"


class InvalidRecipient(ValueError):
    """The row's recipient is not one plain address: no message is built for it, ever.

    Defence in depth behind the staff import's own check: a row queued before that check
    existed, or written by other means, fails with this reason instead of becoming a
    header (`Bcc:`), a second recipient or an unencodable message.
    """


def checked_recipient(recipient: str) -> str:
    """`recipient` if it is a single plain ASCII address, else `InvalidRecipient`."""
    try:
        return check_address(recipient)
    except AddressError as error:
        raise InvalidRecipient(f"recipient is not a single plain address: {error}") from None


def _one_line(value: str) -> str:
    """Header text on one line: a line break or control character in a title or reference
    must not start a header of its own."""
    return "".join(" " if ord(ch) < 32 or ord(ch) == 127 else ch for ch in value)


@dataclass(frozen=True, slots=True)
class Outgoing:
    """A message ready for any transport: the envelope and the RFC 5322 bytes."""

    outbox_id: int
    sender: str
    recipient: str
    message_id: str
    data: bytes


@lru_cache(maxsize=8)
def _sender(mail_from: str) -> tuple[str, str, str]:
    """(From header, envelope address, domain) of the configured sender."""
    name, address = parseaddr(mail_from)
    domain = address.rpartition("@")[2] or "alongside.invalid"
    return formataddr((name, address), charset="utf-8"), address, domain


def message_id(row: OutboxRow, settings: Settings) -> str:
    """A Message-ID derived from the row's id and key: a resend carries the same one."""
    digest = hashlib.sha256(f"{row.id}:{row.key}".encode()).hexdigest()[:24]
    return f"<outbox.{row.id}.{digest}@{_sender(settings.mail_from)[2]}>"


def _header_text(value: str, width: int = 68) -> str:
    """Subject text as a header value: ASCII folded at spaces, anything else RFC 2047.

    Written out because `email.header.Header` spends longer choosing where to split than
    rendering the rest of the message takes. Ten characters are at most 40 bytes of UTF-8,
    so each base64 encoded word stays within RFC 2047's 75 characters; readers join
    adjacent encoded words without the folding whitespace between them.
    """
    value = _one_line(value)
    if not value.isascii():
        chunks = (value[i : i + 10].encode() for i in range(0, len(value), 10))
        return "\r\n ".join(f"=?utf-8?b?{base64.b64encode(c).decode('ascii')}?=" for c in chunks)
    lines = [""]
    for word in value.split(" "):
        if lines[-1] and len(lines[-1]) + 1 + len(word) > width:
            lines.append(word)
        else:
            lines[-1] = f"{lines[-1]} {word}" if lines[-1] else word
    return "\r\n ".join(lines)


def _entity(headers: list[str], body: bytes) -> bytes:
    return (CRLF.join(headers) + CRLF + CRLF).encode("ascii") + body


def _quoted_printable(text: str) -> bytes:
    data = text.replace("\r\n", "\n").replace("\n", CRLF).encode("utf-8")
    return binascii.b2a_qp(data, quotetabs=False, istext=True)


def _text(subtype: str, text: str) -> bytes:
    return _entity(
        [
            f'Content-Type: text/{subtype}; charset="utf-8"',
            "Content-Transfer-Encoding: quoted-printable",
        ],
        _quoted_printable(text),
    )


def _multipart(subtype: str, boundary: str, parts: list[bytes]) -> tuple[str, bytes]:
    """(Content-Type, body) of a multipart entity holding `parts`."""
    delimiter = f"--{boundary}".encode("ascii")
    body = b"".join(delimiter + b"\r\n" + part + b"\r\n" for part in parts) + delimiter + b"--\r\n"
    return f'multipart/{subtype}; boundary="{boundary}"', body


def render_outgoing(row: OutboxRow, settings: Settings, now: datetime) -> Outgoing:
    """The wire form of a row's message: what dispatch sends and the file transport writes.

    Raises `InvalidRecipient` before anything is built when the recipient is not one plain
    address.
    """
    recipient = checked_recipient(row.recipient)
    bodies = render_bodies(row, Links(settings.base_url))
    from_header, sender, _ = _sender(settings.mail_from)
    identifier = message_id(row, settings)
    unique = identifier.split(".")[2].partition("@")[0]  # the digest in <outbox.ID.DIGEST@…>
    content_type, body = _multipart(
        "alternative", f"=_alt.{unique}", [_text("plain", bodies.text), _text("html", bodies.html)]
    )
    attachments = [
        _entity(
            [
                f'Content-Type: text/calendar; method="{part.method}"; charset="utf-8"',
                "Content-Transfer-Encoding: base64",
                f'Content-Disposition: attachment; filename="{part.filename}"',
            ],
            base64.encodebytes(part.data).replace(b"\n", b"\r\n"),
        )
        for part in calendar_parts(row, settings, now)
    ]
    if attachments:
        alternative = _entity([f"Content-Type: {content_type}"], body)
        content_type, body = _multipart("mixed", f"=_mix.{unique}", [alternative, *attachments])
    headers = [
        f"From: {from_header}",
        f"To: {recipient}",
        f"Subject: {_header_text(bodies.subject)}",
        f"Date: {format_datetime(now.astimezone(UTC))}",
        f"Message-ID: {identifier}",
        # RFC 3834: tells autoresponders not to answer, so no loops with out-of-office.
        "Auto-Submitted: auto-generated",
        "MIME-Version: 1.0",
        f"Content-Type: {content_type}",
    ]
    return Outgoing(
        outbox_id=row.id,
        sender=sender,
        recipient=recipient,
        message_id=identifier,
        data=_entity(headers, body),
    )


def render(row: OutboxRow, settings: Settings, now: datetime) -> EmailMessage:
    """The complete message for an outbox row, as an `EmailMessage` (exactly the bytes sent)."""
    return message_from_bytes(render_outgoing(row, settings, now).data, policy=default_policy)
