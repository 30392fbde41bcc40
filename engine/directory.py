"""Who is who: staff and organisations, and who a journey role means for a case."""

from __future__ import annotations

import sqlalchemy as sa
from sqlmodel import Session

from engine.store import Organisation, Staff

# Where a message to an address that is not staff is timed (it cannot happen for staff).
DEFAULT_TIMEZONE = "Europe/London"
DEFAULT_CALENDAR = "england-and-wales"


class Directory:
    """Staff and organisations, read once per batch: small tables, read often."""

    def __init__(self, session: Session):
        self.session = session
        self._staff: dict[int, sa.Row] | None = None
        self._orgs: dict[str, sa.Row] | None = None
        self._by_email: dict[str, sa.Row] | None = None

    @property
    def staff(self) -> dict[int, sa.Row]:
        if self._staff is None:
            self._staff = {r.id: r for r in self.session.execute(sa.select(Staff.__table__))}
        return self._staff

    @property
    def orgs(self) -> dict[str, sa.Row]:
        if self._orgs is None:
            self._orgs = {r.id: r for r in self.session.execute(sa.select(Organisation.__table__))}
        return self._orgs

    def navigator_email(self, staff_id: int) -> str:
        return self.staff[staff_id].email

    def timezone(self, organisation_id: str) -> str:
        return self.orgs[organisation_id].timezone

    def works_in(self, email: str) -> tuple[str, str]:
        """(time zone, calendar) of the organisation a person works in; the defaults for an
        address that is not staff."""
        if self._by_email is None:
            self._by_email = {s.email: s for s in self.staff.values()}
        person = self._by_email.get(email)
        org = self.orgs.get(person.organisation_id) if person else None
        return (org.timezone, org.calendar) if org else (DEFAULT_TIMEZONE, DEFAULT_CALENDAR)

    def recipients(self, role: str, navigator_id: int, organisation_id: str) -> list[str]:
        """Who a journey role means for one case: its navigator, their lead, the programme leads.

        A navigator without a lead escalates to the programme leads instead. Leavers
        (inactive staff) get nothing: a case whose navigator has left reaches no one as
        navigator, and a lead who has left is skipped as if there were none.
        """
        navigator = self.staff[navigator_id]
        if role == "navigator":
            return [navigator.email] if navigator.active else []
        if role == "team_lead":
            lead = self.staff.get(navigator.lead_id) if navigator.lead_id else None
            lead = lead if lead is not None and lead.active else None
            return (
                [lead.email]
                if lead
                else self.recipients("programme_lead", navigator_id, organisation_id)
            )
        leads = [s for s in self.staff.values() if s.role == "programme_lead" and s.active]
        local = [s.email for s in leads if s.organisation_id == organisation_id]
        # An organisation without its own programme lead escalates to the programme's:
        # the top of a ladder must reach someone.
        return sorted(local or (s.email for s in leads))
