"""Acknowledging an escalation: a lead says "I have this", and the ladder stops calling them.

Kept out of `engine.service` so it can grow on its own. The lead acknowledges for
themselves, so the acting person must be a team lead or programme lead, and the task must
be in their scope (out of scope reads as "unknown task"). The acknowledgement is a
row (task, person), which the alert pass reads to leave that person out of every later
step of that task; the task itself stays open and overdue, and the navigator and anyone
further up still hear. Every acknowledgement is audited.
"""

from __future__ import annotations

from datetime import datetime

from sqlmodel import Session, select

from engine.catalog import Catalog
from engine.core.actors import Actor
from engine.core.errors import UserError
from engine.service import get_task
from engine.store import Acknowledgement, AuditEntry, Staff

LEADS = ("team_lead", "programme_lead")


def acknowledge_task(
    session: Session, catalog: Catalog, task_id: int, now: datetime, actor: Actor
) -> Acknowledgement:
    """Record that the acting lead acknowledged the escalation of task `task_id`."""
    del catalog  # the use-case signature every command runs through; not needed here
    who = actor.who
    person = session.exec(select(Staff).where(Staff.email == who)).first()
    if person is None or person.role not in LEADS:
        raise UserError(f"only a team lead or programme lead can acknowledge; {who} is not one")
    task, case = get_task(session, actor, task_id)
    if task.status != "open" or task.escalation_level < 1:
        raise UserError(f"task {task_id} has no open escalation to acknowledge")
    done = session.exec(
        select(Acknowledgement).where(
            Acknowledgement.task_id == task_id, Acknowledgement.staff_email == who
        )
    ).first()
    if done is not None:
        raise UserError(f"task {task_id} is already acknowledged by {who}")
    ack = Acknowledgement(task_id=task_id, staff_email=who, at=now, level=task.escalation_level)
    session.add(ack)
    session.add(
        AuditEntry(
            at=now,
            actor=who,
            case_ref=case.ref if case else None,
            action="task.ack",
            detail={"task": task_id, "level": task.escalation_level},
        )
    )
    return ack
