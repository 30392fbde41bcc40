"""Message kinds and their payloads: the one definition every producer and the renderer use.

A payload is what the outbox stores (JSON) and all a template can ever see: a case
reference, task titles from the journey, dates, staff addresses and counts; never a
survivor's facts or names, and never a note or a reason. Producers build payloads through
the constructors here, so a new field is added in one place and a misspelt one is a type
error rather than a blank line in someone's email.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Literal, NotRequired, TypedDict

MessageKind = Literal[
    "reminder",
    "overdue",
    "escalation",
    "replan",
    "digest",
    "handover",
    "calendar",
    "unreached",
    "signin",
]
MessageStatus = Literal["queued", "sending", "sent", "failed"]
MESSAGE_STATUSES: tuple[MessageStatus, ...] = ("queued", "sending", "sent", "failed")
Precision = Literal["day", "hour"]
CalendarMethod = Literal["REQUEST", "CANCEL"]
EmailChoice = Literal["each", "digest"]  # a person's preference for one group of kinds


class TaskItem(TypedDict):
    """One task as a message shows it."""

    case: str
    task_id: int
    title: str
    stage: str  # the stage's title
    category: str
    due: str  # ISO instant
    precision: Precision
    guidance: NotRequired[str]  # the obligation's `description` from the journey


class ReminderPayload(TaskItem):
    sequence: int  # the task's calendar SEQUENCE
    timezone: str  # the recipient's


class EscalatedItem(TaskItem):
    level: int  # the ladder step
    navigator: str  # the case's navigator, so a lead knows whom to ask
    urgent: NotRequired[bool]  # a step the journey marked urgent: sent day or night


class EscalationPayload(TypedDict):
    """`overdue` (to the navigator) and `escalation` (to leads): every task that escalated to
    one recipient in one sweep."""

    timezone: str
    items: list[EscalatedItem]


class UnreachedPayload(TaskItem):
    """`unreached`: contact attempts on one case failed `failures` times in a row (the task
    is the latest failed attempt)."""

    failures: int
    navigator: str  # the case's navigator, so a lead knows whom to ask
    timezone: str  # the recipient's


class ReplanItem(TypedDict):
    task_id: int
    title: str
    stage: str
    category: str
    old_due: str
    new_due: str
    precision: Precision
    sequence: int


class ReplanPayload(TypedDict):
    """One notice to the navigator for every date one re-plan of a case moved."""

    case: str
    timezone: str
    items: list[ReplanItem]


class DigestItem(TaskItem):
    level: int
    navigator: NotRequired[str]  # in a team lead's section


class QuietCase(TypedDict):
    case: str
    last_contact: str | None


class DigestPayload(TypedDict):
    timezone: str
    date: str  # the recipient's local day
    quiet_days: int
    overdue: list[DigestItem]
    upcoming: list[DigestItem]
    quiet: list[QuietCase]
    team: list[DigestItem]


class HandoverPayload(TypedDict):
    """Cases changing hands: to the navigator taking them on, or the one handing them over.

    The reason stays in the audit log, not in an email: it may say why a survivor moved.
    """

    direction: Literal["to", "from"]  # "to": you take these on; "from": you hand them over
    cases: list[str]  # case references
    other: str  # the other navigator's email
    open_tasks: int  # across these cases


class CalendarItem(TaskItem):
    """One task's calendar entry: a REQUEST (new or re-dated) or a CANCEL (closed)."""

    uid: str  # task-{id}@{installation id}
    method: CalendarMethod
    sequence: int  # higher on every entry sent for the task, so a client applies it


class CalendarPayload(TypedDict):
    """`calendar`: one message per navigator per sweep, one entry per task that changed."""

    timezone: str  # the recipient's
    items: list[CalendarItem]


class SignInPayload(TypedDict):
    """`signin`: a person asked the web app for a sign-in link. No case, no task: the token,
    removed from the row once the message is sent (`web.signin`)."""

    token: str
    minutes: int  # how long the link works
    next: NotRequired[str]  # the page they were going to (a task or case path, no more)


Payload = (
    ReminderPayload
    | EscalationPayload
    | ReplanPayload
    | DigestPayload
    | HandoverPayload
    | CalendarPayload
    | UnreachedPayload
    | SignInPayload
)


@dataclass(frozen=True, slots=True)
class Message:
    """A message to queue: its idempotency key, kind, recipient, case and payload."""

    key: str
    kind: MessageKind
    recipient: str
    case_ref: str | None
    payload: Payload | dict = field(default_factory=dict)
    deliver_at: datetime | None = None  # hold until (quiet hours); default: at once


def task_item(
    *,
    case: str,
    task_id: int,
    title: str,
    stage: str,
    category: str,
    due: datetime,
    precision: Precision,
    guidance: str | None = None,
) -> TaskItem:
    item = TaskItem(
        case=case,
        task_id=task_id,
        title=title,
        stage=stage,
        category=category,
        due=due.isoformat(),
        precision=precision,
    )
    if guidance:
        item["guidance"] = " ".join(guidance.split())
    return item


def email_choice(prefs: dict | None, group: str) -> EmailChoice:
    """A person's choice for a group of kinds (`tasks`, `escalations`): `each` unless they
    chose `digest`, so a missing or unreadable preference never silences anyone."""
    return "digest" if (prefs or {}).get(group) == "digest" else "each"
