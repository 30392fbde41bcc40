"""Who is acting, and which cases they may see and change: pure rules, no database.

Every use case takes an `Actor`. The shell resolves one from a person's staff record (or
the home's operator account) and asks the rules here; the read side expresses the same
rule in SQL (`engine.access.case_filter`), and a test holds the two to the same answers.

Out of scope is indistinguishable from "no such case": callers raise the same error for
both, so nobody can learn that a reference exists by being refused it.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

Role = Literal["navigator", "team_lead", "programme_lead", "programme_admin", "operations"]
ROLES: tuple[Role, ...] = (
    "navigator",
    "team_lead",
    "programme_lead",
    "programme_admin",
    "operations",
)
# Roles that may hold a case: a navigator's own, or a team lead covering it.
CASE_HOLDERS: tuple[Role, ...] = ("navigator", "team_lead")
OPERATOR = "operator"


@dataclass(frozen=True, slots=True)
class Actor:
    """The person a use case acts for.

    `team` is the staff ids of the navigators whose lead this person is (empty unless a
    team lead); `organisations` the organisations a programme lead answers for.
    """

    who: str  # an email, or "operator" for the home's own account
    roles: frozenset[Role]
    staff_id: int | None = None
    organisations: frozenset[str] = frozenset()
    team: frozenset[int] = frozenset()

    @property
    def is_admin(self) -> bool:
        return "programme_admin" in self.roles


def operator() -> Actor:
    """The home's operator account: what the CLI and the flows act as by default."""
    return Actor(who=OPERATOR, roles=frozenset({"programme_admin"}))


@dataclass(frozen=True, slots=True)
class CaseScope:
    """The three facts about a case that decide who may see it."""

    navigator_id: int
    organisation_id: str


def can_see(actor: Actor, case: CaseScope) -> bool:
    """Whether `actor` may see (and so change) a case.

    A navigator: their own cases (a case held by someone is theirs to work, including a
    case they were assigned to cover). A team lead: their team's cases and those they hold.
    A programme lead: their organisations'. A programme admin: every case.
    """
    if actor.is_admin:
        return True
    if "programme_lead" in actor.roles and case.organisation_id in actor.organisations:
        return True
    if actor.staff_id is not None and case.navigator_id == actor.staff_id:
        return True
    return "team_lead" in actor.roles and case.navigator_id in actor.team


def can_manage_staff(actor: Actor) -> bool:
    """Importing the staff file changes who may act at all: the programme admin's job."""
    return actor.is_admin
