"""This installation's identity: a random value created once and kept in the database.

Calendar UIDs must be unique across every installation a navigator hears from (a pilot
and a training home both send `task-7`): `task-{id}@{installation id}` is. The value is
random, not derived from a host name or path, so it says nothing about where it runs.
"""

from __future__ import annotations

import secrets

import sqlalchemy as sa
from sqlmodel import Session

from engine.bulk import insert_ignoring_conflicts
from engine.store import Installation

installation_t = Installation.__table__


def installation_id(session: Session) -> str:
    """The installation id, created on first use (two first users at once agree on one)."""
    found = session.execute(sa.select(installation_t.c.uid).where(installation_t.c.id == 1))
    uid = found.scalar()
    if uid is None:
        candidate = f"{secrets.token_hex(8)}.alongside"
        insert_ignoring_conflicts(session, installation_t, [{"id": 1, "uid": candidate}], ["id"])
        uid = session.execute(
            sa.select(installation_t.c.uid).where(installation_t.c.id == 1)
        ).scalar_one()
    return uid


def task_uid(task_id: int, installation: str) -> str:
    """A task's calendar UID: the same for the task's whole life, unique per installation."""
    return f"task-{task_id}@{installation}"
