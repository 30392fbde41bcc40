"""Alert fatigue: one escalation message per recipient per sweep.

A lead whose team has ten overdue tasks gets one message listing ten, not ten messages; a
navigator told of their own overdue work gets an `overdue` message, everyone else an
`escalation`; a person reached through two roles (a lead who is also the programme lead)
sees each task once. The message key is derived from the tasks and ladder steps it
carries, so a repeated sweep queues nothing new.
"""

from __future__ import annotations

import hashlib
from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

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
    grouped: dict[tuple[MessageKind, str], list[EscalatedItem]], timezone_of
) -> list[Message]:
    """One message per (kind, recipient); `timezone_of(recipient)` is where they read it."""
    found = []
    for (kind, recipient), items in grouped.items():
        refs = {item["case"] for item in items}
        payload = EscalationPayload(timezone=timezone_of(recipient), items=items)
        case_ref = refs.pop() if len(refs) == 1 else None
        found.append(Message(items_key(kind, recipient, items), kind, recipient, case_ref, payload))
    return found


def items_key(kind: str, recipient: str, items: Sequence[EscalatedItem]) -> str:
    pairs = ",".join(
        f"{i['task_id']}:{i['level']}" for i in sorted(items, key=lambda i: i["task_id"])
    )
    return f"{kind}:{recipient}:{hashlib.sha256(pairs.encode()).hexdigest()[:20]}"
