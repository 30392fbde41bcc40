"""Installing a journey safely: preview its effect on live cases, then replace it atomically.

`preview` plans every open case on the journey with the new definition and diffs it with
the tasks the case has, exactly as the next sweep would, but writes nothing. `install`
validates the file, replaces the installation's copy in one `os.replace` (never a
half-written file), and audits who installed which version; the next sweep re-plans the
cases, because their journey version changed.
"""

from __future__ import annotations

import os
import tempfile
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path

import sqlalchemy as sa
from sqlmodel import Session

from engine.access import case_filter
from engine.catalog import Catalog
from engine.core.actors import Actor
from engine.core.errors import UserError
from engine.core.journey import Journey
from engine.reconcile import load_open_cases, plan_and_diff
from engine.store import AuditEntry, Case

BATCH = 500


@dataclass
class CaseImpact:
    """What installing the journey would do to one open case's tasks."""

    case: str
    created: list[dict] = field(default_factory=list)
    redated: list[dict] = field(default_factory=list)
    cancelled: list[dict] = field(default_factory=list)

    def as_dict(self) -> dict:
        return {
            "case": self.case,
            "created": self.created,
            "redated": self.redated,
            "cancelled": self.cancelled,
        }


@dataclass
class Impact:
    journey: str
    version: str
    open_cases: int = 0
    cases: list[CaseImpact] = field(default_factory=list)

    def totals(self) -> dict[str, int]:
        return {
            "open_cases": self.open_cases,
            "cases_changed": len(self.cases),
            "created": sum(len(c.created) for c in self.cases),
            "redated": sum(len(c.redated) for c in self.cases),
            "cancelled": sum(len(c.cancelled) for c in self.cases),
        }

    def as_dict(self) -> dict:
        return {
            "journey": self.journey,
            "version": self.version,
            "totals": self.totals(),
            "cases": [c.as_dict() for c in self.cases],
        }


def preview(
    session: Session, journey: Journey, now: datetime, actor: Actor | None = None
) -> Impact:
    """Every open case on `journey.journey` (of those `actor` may see, when given: a
    programme lead previews their organisations' cases), planned on this definition at
    `now`; no writes."""
    impact = Impact(journey.journey, journey.version)
    case_t = Case.__table__
    seen = case_filter(actor, case_t) if actor is not None else sa.true()
    ids = list(
        session.execute(
            sa.select(case_t.c.id)
            .where(case_t.c.journey_id == journey.journey, case_t.c.status == "open", seen)
            .order_by(case_t.c.id)
        ).scalars()
    )
    impact.open_cases = len(ids)
    for start in range(0, len(ids), BATCH):
        for state in load_open_cases(session, ids[start : start + BATCH]):
            _, changes = plan_and_diff(state, journey, now)
            if changes:
                impact.cases.append(_case_impact(state.case.ref, changes, journey))
    return impact


def _case_impact(ref: str, changes, journey: Journey) -> CaseImpact:
    tz = journey.tz
    return CaseImpact(
        ref,
        created=[
            {"task": p.obligation, "occurrence": p.occurrence, "title": p.title,
             "due": p.due.astimezone(tz).isoformat()}
            for p, _ in changes.created
        ]
        + [
            {"task": r.planned.obligation, "occurrence": r.planned.occurrence,
             "title": r.planned.title, "due": r.planned.due.astimezone(tz).isoformat(),
             "reopened": r.before.id}
            for r in changes.redated
            if r.reopened
        ],
        redated=[
            {"task_id": r.before.id, "title": r.planned.title,
             "old_due": r.before.due.astimezone(tz).isoformat(),
             "new_due": r.planned.due.astimezone(tz).isoformat()}
            for r in changes.redated
            if not r.reopened
        ],
        cancelled=[{"task_id": t.id, "title": t.title} for t, _ in changes.cancelled],
    )  # fmt: skip


def install(
    session: Session, catalog: Catalog, source: Path, journey: Journey, now: datetime, who: str
) -> str | None:
    """Replace the installation's copy of the journey with `source` (already validated as
    `journey`); returns the version it replaces, if any."""
    target = catalog.directory / f"{journey.journey}.yaml"
    previous = None
    if target.is_file():
        try:
            previous = catalog.resolve(str(target)).version
        except UserError:
            previous = "invalid"
    try:
        data = source.read_bytes()
    except OSError as error:
        raise UserError(f"cannot read {source}: {error.strerror}") from None
    _replace_atomically(target, data)
    session.add(
        AuditEntry(
            at=now,
            actor=who,
            case_ref=None,
            action="journey.install",
            detail={"journey": journey.journey, "version": journey.version, "previous": previous},
        )
    )
    return previous


def _replace_atomically(target: Path, data: bytes) -> None:
    """Write beside the target, flush to disk, then rename over it: readers see the old file
    or the new one, never a part of either."""
    target.parent.mkdir(parents=True, exist_ok=True)
    handle, temporary = tempfile.mkstemp(prefix=f".{target.name}.", dir=target.parent)
    try:
        with os.fdopen(handle, "wb") as out:
            out.write(data)
            out.flush()
            os.fsync(out.fileno())
        os.replace(temporary, target)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise
