"""The staff file: YAML text -> organisations and people, every problem reported at once.

Same standard as the journey loader (whose YAML reader with node positions this reuses):
each problem is `FILE:LINE:COL: message` in plain words, and all of them are reported
together, so whoever keeps the file fixes it in one pass rather than one error per import.
The format is documented in docs/staff.md.

Pure: which organisations and people already exist is passed in by the caller.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import date
from typing import Any, cast
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from engine.core.actors import CASE_HOLDERS, ROLES, Role
from engine.core.calendar import CALENDAR_NAMES
from engine.core.errors import UserError
from engine.core.loader import Loc, Problem, _Positions, read_document
from engine.core.text import printable

DEFAULT_REFERENCE_PATTERN = r"^[A-Z]{2,6}-[0-9]{1,7}$"
ORG_ID = re.compile(r"^[a-z][a-z0-9-]*$")
EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")


@dataclass(frozen=True, slots=True)
class OrgEntry:
    id: str
    name: str
    calendar: str
    timezone: str
    reference_pattern: str = DEFAULT_REFERENCE_PATTERN


@dataclass(frozen=True, slots=True)
class PersonEntry:
    email: str
    name: str
    role: Role
    organisation: str
    lead: str | None = None
    left: date | None = None
    organisations: tuple[str, ...] = ()  # further organisations a programme lead answers for
    # which groups of email a person reads in the daily digest only (`emails: {tasks:
    # digest}`); `each`, the default, sends each message as it happens
    emails: tuple[tuple[str, str], ...] = ()


EMAIL_GROUPS = ("tasks", "escalations")
EMAIL_CHOICES = ("each", "digest")


@dataclass(frozen=True, slots=True)
class StaffFile:
    organisations: tuple[OrgEntry, ...]
    staff: tuple[PersonEntry, ...]


class StaffFileError(UserError):
    """A staff file that cannot be imported; carries every problem found, one per line."""

    def __init__(self, problems: list[Problem]):
        super().__init__("\n".join(map(str, problems)))
        self.problems = problems


class _Checker:
    """Collects problems while reading one mapping after another."""

    def __init__(self, file: str, positions: _Positions) -> None:
        self.file, self.positions, self.problems = file, positions, list[Problem]()

    def add(self, loc: Loc, message: str, *, at_key: bool = False) -> None:
        line, col = self.positions.of(loc, prefer_key=at_key)
        self.problems.append(Problem(self.file, line, col, message))

    def mapping(
        self, value: Any, loc: Loc, what: str, required: Iterable[str], optional: Iterable[str]
    ) -> dict[str, Any] | None:
        """`value` as a mapping with only known keys; None (reported) when it is not one."""
        if not isinstance(value, dict):
            self.add(loc, f"{what}: expected a mapping of keys such as {', '.join(required)}")
            return None
        known = (*required, *optional)
        for key in value:
            if key not in known:
                self.add((*loc, key), f"{what}: unknown key '{key}'", at_key=True)
        for key in required:
            if value.get(key) in (None, ""):
                self.add(loc, f"{what}: '{key}' is missing")
        return value

    def text(
        self, entry: dict[str, Any], loc: Loc, key: str, what: str, check: Callable | None = None
    ) -> str | None:
        """A text value, checked by `check` (returning a message when wrong)."""
        value = entry.get(key)
        if value in (None, ""):
            return None
        if not isinstance(value, str):
            self.add((*loc, key), f"{what}: '{key}' must be text")
            return None
        message = check(value) if check else None
        if message:
            self.add((*loc, key), f"{what}: {message}")
            return None
        return value


def _timezone(name: str) -> str | None:
    try:
        ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        return f"unknown time zone '{name}' (use an IANA name such as Europe/London)"
    return None


def _pattern(text: str) -> str | None:
    try:
        re.compile(text)
    except re.error as error:
        return f"reference_pattern is not a valid regular expression ({error})"
    return None


def _has_text(raw: Any, key: str) -> bool:
    return isinstance(raw, dict) and isinstance(raw.get(key), str) and bool(raw[key])


def _items(checker: _Checker, data: dict[str, Any], key: str) -> list[tuple[Loc, Any]]:
    value = data.get(key)
    if value is None:
        return []
    if not isinstance(value, tuple):
        checker.add((key,), f"'{key}' must be a list (lines starting with '- ')")
        return []
    return [((key, i), item) for i, item in enumerate(value)]


def _organisations(checker: _Checker, data: dict[str, Any]) -> tuple[list[OrgEntry], set[str]]:
    """The valid organisations, and every id declared (valid or not), so a person in an
    organisation with a problem of its own is not reported a second time."""
    found: dict[str, OrgEntry] = {}
    declared: set[str] = set()
    for loc, raw in _items(checker, data, "organisations"):
        label = f"organisation {raw['id']}" if _has_text(raw, "id") else "organisation"
        entry = checker.mapping(
            raw,
            loc,
            label,
            ("id", "name", "calendar", "timezone"),
            ("reference_pattern",),
        )
        if entry is None:
            continue
        org_id = checker.text(
            entry,
            loc,
            "id",
            "organisation",
            lambda v: None if ORG_ID.match(v) else f"id '{v}' must be lowercase, such as 'kent'",
        )
        what = f"organisation {org_id or ''}".rstrip()
        if isinstance(raw.get("id"), str):
            declared.add(raw["id"])
        if org_id in found:
            checker.add((*loc, "id"), f"organisation '{org_id}' is listed twice")
            org_id = None
        name = checker.text(entry, loc, "name", what)
        calendar = checker.text(
            entry,
            loc,
            "calendar",
            what,
            lambda v: (
                None
                if v in CALENDAR_NAMES
                else f"unknown calendar '{v}' (one of: {', '.join(CALENDAR_NAMES)})"
            ),
        )
        timezone = checker.text(entry, loc, "timezone", what, _timezone)
        pattern = checker.text(entry, loc, "reference_pattern", what, _pattern)
        if org_id and name and calendar and timezone:
            found[org_id] = OrgEntry(
                org_id, name, calendar, timezone, pattern or DEFAULT_REFERENCE_PATTERN
            )
    return list(found.values()), declared


def _left(checker: _Checker, entry: dict[str, Any], loc: Loc, what: str) -> date | None:
    value = entry.get("left")
    if value is None or (isinstance(value, date) and not hasattr(value, "hour")):
        return value
    checker.add((*loc, "left"), f"{what}: 'left' must be a date such as 2027-03-31")
    return None


def _emails(
    checker: _Checker, entry: dict[str, Any], loc: Loc, what: str
) -> tuple[tuple[str, str], ...]:
    """`emails: {tasks: each|digest, escalations: each|digest}`, each group optional."""
    value = entry.get("emails")
    if value is None:
        return ()
    groups = ", ".join(EMAIL_GROUPS)
    if not isinstance(value, dict):
        checker.add((*loc, "emails"), f"{what}: 'emails' is a mapping of {groups}")
        return ()
    found = []
    for group, choice in value.items():
        if group not in EMAIL_GROUPS:
            checker.add((*loc, "emails"), f"{what}: unknown email group '{group}' ({groups})")
        elif choice not in EMAIL_CHOICES:
            checker.add((*loc, "emails", group), f"{what}: emails.{group} is each or digest")
        else:
            found.append((group, choice))
    return tuple(found)


def _people(
    checker: _Checker,
    data: dict[str, Any],
    orgs: set[str],
    known_staff: set[str],
    address_problem: Callable[[str], str | None] | None = None,
) -> list[PersonEntry]:
    def check(value: str) -> str | None:
        """The shell's answer when it gave one (never repeating a crafted address, which may
        hold header text); else the shape, with the value shown on one line."""
        if address_problem is not None:
            found = address_problem(value)
            return f"not a single plain email address: {found}" if found else None
        return None if EMAIL.match(value) else f"'{printable(value)}' is not an email address"

    listed: dict[str, Loc] = {}
    for loc, raw in _items(checker, data, "staff"):
        email = raw.get("email") if isinstance(raw, dict) else None
        if isinstance(email, str) and email not in listed:
            listed[email] = loc
    people: list[PersonEntry] = []
    seen: set[str] = set()
    for loc, raw in _items(checker, data, "staff"):
        label = f"staff {raw['email']}" if _has_text(raw, "email") else "staff"
        entry = checker.mapping(
            raw,
            loc,
            label,
            ("email", "name", "role", "organisation"),
            ("lead", "left", "organisations", "emails"),
        )
        if entry is None:
            continue
        email = checker.text(
            entry,
            loc,
            "email",
            "staff",
            check,
        )
        what = f"staff {email or ''}".rstrip()
        if email in seen:
            checker.add((*loc, "email"), f"{email} is listed twice")
            email = None
        seen.add(email or "")
        name = checker.text(entry, loc, "name", what)
        role = checker.text(
            entry,
            loc,
            "role",
            what,
            lambda v: None if v in ROLES else f"unknown role '{v}' (one of: {', '.join(ROLES)})",
        )
        org = checker.text(
            entry,
            loc,
            "organisation",
            what,
            lambda v: None if v in orgs else f"unknown organisation '{v}'",
        )
        lead = checker.text(
            entry,
            loc,
            "lead",
            what,
            lambda v: (
                check(v)
                or (None if v in listed or v in known_staff else f"lead '{v}' is not listed")
            ),
        )
        left = _left(checker, entry, loc, what)
        emails = _emails(checker, entry, loc, what)
        more = entry.get("organisations") or ()
        if not isinstance(more, tuple) or any(o not in orgs for o in more):
            checker.add((*loc, "organisations"), f"{what}: 'organisations' lists unknown ones")
            more = ()
        elif more and role != "programme_lead":
            checker.add((*loc, "organisations"), f"{what}: only a programme_lead has more")
        if lead and role not in CASE_HOLDERS:
            checker.add((*loc, "lead"), f"{what}: only navigators and team leads have a lead")
        if email and name and role and org:
            people.append(
                PersonEntry(email, name, cast(Role, role), org, lead, left, tuple(more), emails)
            )
    return people


def parse_staff_file(
    text: str,
    file: str,
    known_organisations: Iterable[str] = (),
    known_staff: Iterable[str] = (),
    address_problem: Callable[[str], str | None] | None = None,
) -> StaffFile:
    """The staff file's organisations and people, or `StaffFileError` with every problem.

    `known_*` are those already imported: a re-import may name a lead or organisation from
    before, though a complete file is the documented way. `address_problem(address)` is the
    shell's check that an address is one plain mailbox (the core has no mail library); its
    answer is reported at the address's line, without repeating the address.
    """
    data, positions, problems, usable = read_document(text, file)
    if usable and not isinstance(data, dict):
        usable = False
    if not usable:
        raise StaffFileError(problems)
    checker = _Checker(file, positions)
    checker.problems.extend(problems)
    for key in data:
        if key not in ("organisations", "staff"):
            checker.add(
                (key,), f"unknown key '{key}' (expected organisations and staff)", at_key=True
            )
    orgs, declared = _organisations(checker, data)
    people = _people(
        checker, data, declared | set(known_organisations), set(known_staff), address_problem
    )
    if checker.problems:
        raise StaffFileError(sorted(checker.problems, key=lambda p: (p.line, p.column)))
    return StaffFile(tuple(orgs), tuple(people))


def matches_reference(pattern: str, ref: str) -> bool:
    """Whether `ref` is a case reference in the organisation's form (the whole of it)."""
    return re.fullmatch(pattern, ref) is not None
