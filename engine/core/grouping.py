"""Alert fatigue: one escalation message per recipient per sweep.

A lead whose team has ten overdue tasks gets one message listing ten, not ten messages; a
navigator told of their own overdue work gets an `overdue` message, everyone else an
`escalation`; a person reached through two roles (a lead who is also the programme lead)
sees each task once. The message key is derived from the tasks and ladder steps it
carries, so a repeated sweep queues nothing new.

Each message waits for its recipient's working hours (`hold`). Steps a journey marks urgent
(accommodation tonight) never wait: out of hours they go at once in a message of their own,
so a recipient may get two in a sweep at night (the urgent one now, the rest when their
working day starts); in working hours it is one message as ever.
"""

from __future__ import annotations

import hashlib
from collections import defaultdict
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime

from engine.core.messages import EscalatedItem, EscalationPayload, Message, MessageKind


@dataclass(frozen=True, slots=True)
class Escalated:
    """One task that reached a ladder step in this sweep, and everyone the step's roles mean."""

    item: EscalatedItem
    recipients: Sequence[str]


def group(escalated: Iterable[Escalated]) -> dict[tuple[MessageKind, str], list[EscalatedItem]]:
    """Each recipient's tasks, by message kind, each task once, in the order they came."""
    combined: dict[tuple[MessageKind, str], list[EscalatedItem]] = defaultdict(list)
    listed: set[tuple[MessageKind, str, int]] = set()
    for entry in escalated:
        navigator = entry.item["navigator"]
        for recipient in entry.recipients:
            kind: MessageKind = "overdue" if recipient == navigator else "escalation"
            if (kind, recipient, entry.item["task_id"]) not in listed:
                listed.add((kind, recipient, entry.item["task_id"]))
                combined[(kind, recipient)].append(entry.item)
    return dict(combined)


def messages_for(
    grouped: dict[tuple[MessageKind, str], list[EscalatedItem]],
    timezone_of: Callable[[str], str],
    hold: Callable[[str], datetime | None] = lambda recipient: None,
) -> list[Message]:
    """One message per (kind, recipient); `timezone_of(recipient)` is where they read it,
    `hold(recipient)` until when a message that is not urgent must wait (None: no wait)."""
    found = []
    for (kind, recipient), every in grouped.items():
        until = hold(recipient)
        if until is None:
            parts = [(every, None)]
        else:
            urgent = [item for item in every if item.get("urgent")]
            parts = [(urgent, None), ([item for item in every if not item.get("urgent")], until)]
        for items, deliver_at in parts:
            if not items:
                continue
            refs = {item["case"] for item in items}
            payload = EscalationPayload(timezone=timezone_of(recipient), items=items)
            case_ref = refs.pop() if len(refs) == 1 else None
            key = items_key(kind, recipient, items)
            found.append(Message(key, kind, recipient, case_ref, payload, deliver_at))
    return found


def items_key(kind: str, recipient: str, items: Sequence[EscalatedItem]) -> str:
    pairs = ",".join(
        f"{i['task_id']}:{i['level']}" for i in sorted(items, key=lambda i: i["task_id"])
    )
    return f"{kind}:{recipient}:{hashlib.sha256(pairs.encode()).hexdigest()[:20]}"


def case_entries(messages: Iterable[Message]) -> list[tuple[str, str, list[dict]]]:
    """(case, message key, that case's tasks in it as {task, level}) for each case in each
    escalation message: what a case's timeline may show of a message whose body can list
    other cases' tasks too."""
    found = []
    for message in messages:
        tasks: dict[str, list[dict]] = defaultdict(list)
        for item in message.payload["items"]:
            tasks[item["case"]].append({"task": item["task_id"], "level": item["level"]})
        found += [(ref, message.key, listed) for ref, listed in tasks.items()]
    return found
