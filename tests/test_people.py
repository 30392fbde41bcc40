"""People: who may see and change which case, staff who join and leave, safe data entry,
and the team view (issue 12, items 1, 2, 3 and 6).

The matrix runs every use case as every role against four cases (the navigator's own, one
of the same team, one of another team, one of another organisation): allowed, or exactly
"no such case". Bad input goes through the real command line (in process, for speed): one
line on stderr, exit 1, and every table as it was.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from sqlmodel import Session

from engine import access, queries, service, store, sweep
from engine.core.actors import Actor, CaseScope, can_see, operator
from engine.core.errors import UserError
from engine.core.staff_file import StaffFileError, parse_staff_file
from engine.store import AuditEntry, Case, OutboxMessage, Task, session_scope
from tests.conftest import at, cli, shipped_catalog
from tests.test_cli_cases import state

PEOPLE_YAML = """
organisations:
  - {id: kent, name: Kent Police, calendar: england-and-wales, timezone: Europe/London}
  - {id: ro, name: Romania team, calendar: romania, timezone: Europe/Bucharest,
     reference_pattern: '^RO-[0-9]{4}$'}
staff:
  - {email: admin@example.org, name: Ada, role: programme_admin, organisation: kent}
  - {email: prog@example.org, name: Pat, role: programme_lead, organisation: kent}
  - {email: lead@example.org, name: Lee, role: team_lead, organisation: kent}
  - {email: nav@example.org, name: Ana, role: navigator, organisation: kent, lead: lead@example.org}
  - {email: nav2@example.org, name: Bo, role: navigator, organisation: kent, lead: lead@example.org}
  - {email: lead2@example.org, name: Lou, role: team_lead, organisation: kent}
  - {email: nav3@example.org, name: Cy, role: navigator, organisation: kent,
     lead: lead2@example.org}
  - {email: ro-prog@example.org, name: Ion, role: programme_lead, organisation: ro}
  - {email: ro-lead@example.org, name: Ilie, role: team_lead, organisation: ro}
  - {email: ro-nav@example.org, name: Ioana, role: navigator, organisation: ro,
     lead: ro-lead@example.org}
"""

CASES = {  # which case, held by whom
    "own": ("KNT-1", "nav@example.org"),
    "same team": ("KNT-2", "nav2@example.org"),
    "other team": ("KNT-3", "nav3@example.org"),
    "other organisation": ("RO-0001", "ro-nav@example.org"),
}
ROLES = {  # role -> (acting as, the kinds of case they may see)
    "navigator": ("nav@example.org", {"own"}),
    "team_lead": ("lead@example.org", {"own", "same team"}),
    "programme_lead": ("prog@example.org", {"own", "same team", "other team"}),
    "programme_admin": ("admin@example.org", set(CASES)),
    "operator": ("operator", set(CASES)),
}
T0 = at("2027-01-04T09:05")


@pytest.fixture
def url(home: Path) -> Iterator[str]:
    """SQLite in the home, staff imported, one adult-cjs case per kind of case, planned."""
    url = f"sqlite:///{home / 'alongside.db'}"
    with session_scope(url) as session:
        service.import_staff(session, PEOPLE_YAML, at("2027-01-01T00:00"), operator())
        for ref, navigator in CASES.values():
            service.open_case(session, shipped_catalog(), ref, "adult-cjs", navigator,
                {"referral": "2027-01-04T09:00"}, {"age": "30"}, T0, operator(),
            )  # fmt: skip
    yield url


def actor_of(session: Session, who: str) -> Actor:
    return access.resolve(session, None if who == "operator" else who)


def first_task(session: Session, ref: str, status: str = "open") -> int:
    return (
        session.execute(
            sa.select(Task.id)
            .join(Case, Case.id == Task.case_id)
            .where(Case.ref == ref, Task.status == status)
            .order_by(Task.id)
        )
        .scalars()
        .first()
    )


def _waived_task(session: Session, ref: str) -> int:
    task_id = first_task(session, ref)
    service.waive_task(session, shipped_catalog(), task_id, "not needed", T0, operator())
    return task_id


# Every use case on one case, as (name, call(session, actor, ref) -> anything). The
# arguments are valid, so in scope the call succeeds; out of scope it must say "unknown".
UseCase = Callable[[Session, Actor, str], Any]
cat = shipped_catalog()
LATER = T0 + timedelta(hours=1)
USE_CASES: dict[str, UseCase] = {
    "view_case": lambda s, a, r: service.view_case(s, cat, r, LATER, a),
    "record_events": lambda s, a, r: service.record_events(
        s, cat, r, {"sentence": "2027-02-01"}, LATER, a
    ),
    "remove_event": lambda s, a, r: (
        service.remove_event(
            s,
            cat,
            r,
            "sentence",
            "typed on the wrong case",
            LATER,
            a,
        )
        if service.record_events(s, cat, r, {"sentence": "2027-02-01"}, LATER, operator())
        else None
    ),
    "record_facts": lambda s, a, r: service.record_facts(s, cat, r, {"age": "31"}, LATER, a),
    "unset_facts": lambda s, a, r: service.unset_facts(s, cat, r, ["age"], LATER, a),
    "assign": lambda s, a, r: service.assign(
        s,
        cat,
        [r],
        a.who if a.roles & {"navigator", "team_lead"} else "lead2@example.org",
        "cover for leave",
        LATER,
        a,
    ),
    "rename_case": lambda s, a, r: service.rename_case(
        s, cat, r, r.replace("1", "9").replace("2", "8").replace("3", "7"), "typo", LATER, a
    ),
    "close_case": lambda s, a, r: service.close_case(s, cat, r, "moved away", LATER, a),
    "complete_task": lambda s, a, r: service.complete_task(
        s, cat, first_task(s, r), None, "done", LATER, a
    ),
    "waive_task": lambda s, a, r: service.waive_task(s, cat, first_task(s, r), "n/a", LATER, a),
    "reopen_task": lambda s, a, r: service.reopen_task(s, cat, _waived_task(s, r), LATER, a),
    "counted_from": lambda s, a, r: service.counted_from(s, cat, a, first_task(s, r)),
    "task_detail": lambda s, a, r: queries.task_detail(s, a, first_task(s, r)),
    "view_task": lambda s, a, r: service.view_task(s, cat, first_task(s, r), LATER, a),
    "case_detail": lambda s, a, r: queries.case_detail(s, a, r, cat),
}


TASK_USE_CASES = (
    "complete_task",
    "waive_task",
    "reopen_task",
    "counted_from",
    "task_detail",
    "view_task",
)


def _not_found(name: str, session: Session, actor: Actor, ref: str) -> str:
    """The message a missing case (or task) gives: what out of scope must look like."""
    if name in TASK_USE_CASES:
        return f"unknown task {first_task(session, ref) if name != 'reopen_task' else 0}"
    return f"unknown case '{ref}'"


def test_every_use_case_by_every_role_on_every_kind_of_case(url: str) -> None:
    engine = store.engine_for(url)
    outcomes: dict[tuple[str, str, str], str] = {}
    for name, use_case in USE_CASES.items():
        for role, (who, allowed) in ROLES.items():
            for kind, (ref, _) in CASES.items():
                with Session(engine) as session:
                    actor = actor_of(session, who)
                    try:
                        use_case(session, actor, ref)
                        outcome = "allowed"
                    except UserError as error:
                        outcome = str(error)
                    expected_missing = _not_found(name, session, actor, ref)
                    session.rollback()
                if kind in allowed:  # a navigator cannot give their own case to themselves
                    ok = outcome == "allowed" or outcome.endswith("is already with nav@example.org")
                    assert ok, (name, role, kind, outcome)
                elif name == "reopen_task":  # the task id is the waived one's: any unknown
                    assert outcome.startswith("unknown task "), (name, role, kind, outcome)
                else:
                    assert outcome == expected_missing, (name, role, kind, outcome)
                outcomes[(name, role, kind)] = outcome
    # the same words as a reference that does not exist at all
    with Session(engine) as session:
        with pytest.raises(UserError, match=r"^unknown case 'KNT-404'$"):
            service.view_case(session, cat, "KNT-404", LATER, operator())
        with pytest.raises(UserError, match=r"^unknown task 99999$"):
            service.complete_task(session, cat, 99999, None, None, LATER, operator())
    assert len(outcomes) == len(USE_CASES) * len(ROLES) * len(CASES)


def test_listings_filter_by_scope_in_sql_and_leak_nothing(url: str) -> None:
    sweep_now = at("2027-01-10T12:00")
    sweep.plan_and_alert(url, cat, sweep_now)
    with session_scope(url) as session:
        for role, (who, allowed) in ROLES.items():
            actor = actor_of(session, who)
            hidden = [ref for kind, (ref, _) in CASES.items() if kind not in allowed]
            shown = {ref for kind, (ref, _) in CASES.items() if kind in allowed}
            listings = {
                "cases": queries.cases(session, actor, None, None),
                "tasks": queries.tasks(session, actor, sweep_now),
                "team": queries.team(session, actor, sweep_now, None, 14, refs=True),
                "audit": queries.audit(session, actor, None, 1000),
                "outbox": queries.outbox(session, actor, None),
            }
            assert {r["ref"] for r in listings["cases"]} == shown, role
            assert {r["case"] for r in listings["tasks"]} == shown, role
            text = json.dumps(listings, default=str)
            for ref in hidden:
                assert ref not in text, (role, ref)
    # every message queued so far names only cases its recipient may see
    with session_scope(url) as session:
        rows = session.execute(sa.select(OutboxMessage.recipient, OutboxMessage.payload)).all()
        assert rows
        for recipient, payload in rows:
            actor = actor_of(session, recipient)
            for ref, _ in CASES.values():
                if ref in json.dumps(payload):
                    case = session.execute(sa.select(Case).where(Case.ref == ref)).scalar_one()
                    scope = CaseScope(case.navigator_id, case.organisation_id)
                    assert can_see(actor, scope), (recipient, ref)


def test_scope_rule_in_sql_matches_the_pure_rule(url: str) -> None:
    with session_scope(url) as session:
        cases = session.execute(sa.select(Case)).scalars().all()
        people = ["operator", *(e for e, *_ in _emails(session))]
        for who in people:
            actor = actor_of(session, who)
            in_sql = set(
                session.execute(
                    sa.select(Case.ref).where(access.case_filter(actor, Case.__table__))
                ).scalars()
            )
            pure = {
                c.ref for c in cases if can_see(actor, CaseScope(c.navigator_id, c.organisation_id))
            }
            assert in_sql == pure, who


def _emails(session: Session) -> list[tuple[str]]:
    return session.execute(sa.select(store.Staff.email)).all()


# --- the command line -------------------------------------------------------------------


def task_of(url: str, ref: str, obligation: str) -> int:
    with session_scope(url) as session:
        return session.execute(
            sa.select(Task.id)
            .join(Case, Case.id == Task.case_id)
            .where(Case.ref == ref, Task.obligation == obligation)
        ).scalar_one()


def test_every_bad_input_rule_is_one_line_exit_1_and_changes_nothing(url, capsys) -> None:
    essentials = str(task_of(url, "KNT-1", "essentials"))
    bad = [
        (("case", "open", "Jane Smith", "--journey", "adult-cjs", "--navigator",
          "nav@example.org", "--event", "referral=2027-01-04"), "is not a case reference"),
        (("case", "open", "KNT-0042", "--journey", "adult-cjs", "--navigator",
          "ro-nav@example.org", "--event", "referral=2027-01-04"), "is not a case reference"),
        (("case", "rename", "KNT-1", "Jane Smith", "--reason", "x"), "is not a case reference"),
        (("case", "rename", "KNT-1", "KNT-2", "--reason", "x"), "already exists"),
        (("case", "rename", "KNT-1", "KNT-9"), "give a reason"),
        (("task", "done", essentials, "--at", "2027-01-05T10:00", "--now", "2027-01-04T12:00"),
         "is in the future"),
        (("task", "done", essentials, "--at", "2027-01-03T10:00", "--now", "2027-01-04T12:00"),
         "is before the event"),
        (("case", "event", "KNT-1", "trial=2031-01-04", "--now", "2027-01-05"),
         "more than three years ahead"),
        (("case", "open", "KNT-0042", "--journey", "adult-cjs", "--navigator",
          "nav@example.org", "--event", "referral=2030-06-01"), "more than three years ahead"),
        (("case", "fact", "KNT-1", "uk_national", "--unset"), "is not set"),
        (("case", "fact", "KNT-1", "nationality", "--unset"), "unknown fact"),
        (("case", "event", "KNT-1", "--remove", "sentence", "--reason", "typo"), "not recorded"),
        (("case", "event", "KNT-1", "--remove", "referral", "--reason", "typo"),
         "cannot be removed"),
        (("case", "event", "KNT-1", "--remove", "trial"), "give a reason"),
        (("task", "waive", essentials), "give a reason for waiving"),
        (("case", "assign", "KNT-1", "--navigator", "nav2@example.org"), "give a reason"),
        (("case", "show", "KNT-1", "--as", "nobody@example.org"), "cannot act as"),
        (("case", "show", "KNT-3", "--as", "nav@example.org"), "unknown case 'KNT-3'"),
        (("team", "show", "--lead", "nobody@example.org"), "unknown team lead"),
    ]  # fmt: skip
    before = state(url)
    for args, expected in bad:
        code, _, err = cli(capsys, *args)
        lines = err.strip().splitlines()
        assert code == 1, (args, err)
        assert len(lines) == 1 and lines[0].startswith("error: "), (args, err)
        assert expected in lines[0], (args, lines[0])
        assert "Traceback" not in err
    assert state(url) == before


def test_far_event_with_confirm_and_local_dates(url, capsys) -> None:
    assert cli(capsys, "case", "event", "KNT-1", "trial=2031-01-04", "--confirm")[0] == 0
    assert (
        cli(capsys, "case", "event", "KNT-1", "sentence=2027-07-01", "--now", "2027-07-02")[0] == 0
    )
    data = json.loads(cli(capsys, "case", "show", "KNT-1", "--json")[1])
    # date-only, in British Summer Time: the local date, not 2027-06-30T23:00:00+00:00
    assert data["events"]["sentence"] == "2027-07-01"
    assert data["events"]["trial"] == "2031-01-04"
    assert data["events"]["referral"] == "2027-01-04T09:00:00+00:00"
    assert {e["value"] for e in data["event_history"]} >= {"2027-07-01"}
    assert "event sentence: 2027-07-01" in cli(capsys, "case", "show", "KNT-1")[1]


def test_rename_rekeys_the_audit_and_forgets_the_old_reference(url, capsys) -> None:
    cli(capsys, "case", "open", "KNT-55", "--journey", "adult-cjs", "--navigator",
        "nav@example.org", "--event", "referral=2027-01-04")  # fmt: skip
    cli(capsys, "case", "fact", "KNT-55", "age=40")
    code, _, err = cli(capsys, "case", "rename", "KNT-55", "KNT-56", "--reason", "mistyped")
    assert code == 0, err
    with session_scope(url) as session:
        entries = session.execute(sa.select(AuditEntry)).scalars().all()
        assert all("KNT-55" not in json.dumps([e.case_ref, e.detail]) for e in entries)
        actions = [e.action for e in entries if e.case_ref == "KNT-56"]
        assert actions[0] == "case.open" and actions[-1] == "case.rename"
    code, out, _ = cli(capsys, "case", "show", "KNT-56", "--json")
    assert json.loads(out)["ref"] == "KNT-56"


def test_unset_fact_remove_event_and_audit(url, capsys) -> None:
    assert cli(capsys, "case", "fact", "KNT-1", "age", "--unset")[0] == 0
    assert cli(capsys, "case", "event", "KNT-1", "sentence=2027-02-01")[0] == 0
    code, _, err = cli(
        capsys, "case", "event", "KNT-1", "--remove", "sentence", "--reason", "wrong"
    )
    assert code == 0, err
    data = json.loads(cli(capsys, "case", "show", "KNT-1", "--json")[1])
    assert "age" not in data["facts"] and "sentence" not in data["events"]
    audit = json.loads(cli(capsys, "audit", "--case", "KNT-1", "--json")[1])
    actions = [a["action"] for a in audit]
    assert {"case.fact.unset", "case.event.remove", "case.view"} <= set(actions)
    removal = next(a for a in audit if a["action"] == "case.event.remove")
    assert removal["detail"] == {"event": "sentence", "reason": "wrong"}


def test_task_history_survives_a_reopen_and_is_shown(url, capsys) -> None:
    task = str(task_of(url, "KNT-1", "essentials"))
    cli(capsys, "task", "done", task, "--note", "bed found", "--at", "2027-01-04T10:00",
        "--now", "2027-01-04T11:00")  # fmt: skip
    cli(capsys, "task", "reopen", task, "--now", "2027-01-04T12:00", "--as", "nav@example.org")
    cli(capsys, "task", "waive", task, "--reason", "not needed", "--now", "2027-01-04T13:00")
    data = json.loads(cli(capsys, "task", "show", task, "--json")[1])
    assert [h["action"] for h in data["history"]] == ["done", "reopened", "waived"]
    assert data["history"][0]["note"] == "bed found"
    assert data["history"][0]["at"] == "2027-01-04T10:00:00+00:00"
    assert data["history"][1]["by"] == "nav@example.org"
    assert data["reason"] == "not needed"
    out = cli(capsys, "task", "show", task)[1]
    assert "bed found" in out and "not needed" in out and "reopened" in out
    shown = json.loads(cli(capsys, "case", "show", "KNT-1", "--json")[1])
    mine = next(t for t in shown["tasks"] if t["id"] == int(task))
    assert len(mine["history"]) == 3
    assert "bed found" in cli(capsys, "case", "show", "KNT-1")[1]


def test_every_case_view_is_audited_with_who(url, capsys) -> None:
    cli(capsys, "case", "show", "KNT-1", "--as", "lead@example.org")
    with session_scope(url) as session:
        views = (
            session.execute(sa.select(AuditEntry).where(AuditEntry.action == "case.view"))
            .scalars()
            .all()
        )
    assert [(v.actor, v.case_ref) for v in views] == [("lead@example.org", "KNT-1")]


def test_as_acts_within_scope_and_lists_only_what_it_may_see(url, capsys) -> None:
    rows = json.loads(cli(capsys, "--as", "lead@example.org", "case", "list", "--json")[1])
    assert {r["ref"] for r in rows} == {"KNT-1", "KNT-2"}
    rows = json.loads(cli(capsys, "case", "list", "--json", "--as=nav@example.org")[1])
    assert {r["ref"] for r in rows} == {"KNT-1"}
    code, _, err = cli(capsys, "task", "list", "--as", "nobody@example.org")
    assert code == 1 and err.startswith("error: cannot act as 'nobody@example.org'")


def test_team_show_counts_per_navigator(url, capsys) -> None:
    cli(capsys, "tick", "--now", "2027-01-10T12:00")
    code, out, err = cli(capsys, "team", "show", "--lead", "lead@example.org", "--json",
                         "--now", "2027-01-20T12:00")  # fmt: skip
    assert code == 0, err
    rows = {r["navigator"]: r for r in json.loads(out)}
    assert set(rows) == {"nav@example.org", "nav2@example.org", "lead@example.org"}
    nav = rows["nav@example.org"]
    assert nav["open"] > 0 and nav["overdue"] > 0 and nav["escalated"] > 0
    assert nav["quiet_cases"] == ["KNT-1"] and nav["quiet"] == 1  # opened 16 days ago, no contact
    # as the lead, only the team shows; another team's lead sees only theirs
    rows = json.loads(cli(capsys, "team", "show", "--json", "--as", "lead2@example.org")[1])
    assert {r["navigator"] for r in rows} == {"lead2@example.org", "nav3@example.org"}
    assert "KNT-1" not in json.dumps(rows)
    assert "no done contact task in 3 days" in cli(capsys, "team", "show", "--days", "3")[1]


# --- staff who join and leave -----------------------------------------------------------


BROKEN_STAFF = """\
organisations:
  - {id: Kent, name: Kent Police, calendar: england-and-wales, timezone: Europe/London}
  - {id: ro, name: Romania, calendar: mars, timezone: Europe/Bucharest}
  - {id: sc, name: Scotland, calendar: scotland, timezone: Mars/Olympus}
  - {id: ni, name: NI, calendar: northern-ireland, timezone: Europe/Belfast,
     reference_pattern: '[A-Z'}
staff:
  - {email: not-an-email, name: A, role: navigator, organisation: ni}
  - {email: b@example.org, name: B, role: captain, organisation: ni}
  - {email: c@example.org, name: C, role: navigator, organisation: atlantis}
  - {email: d@example.org, role: navigator, organisation: ni}
  - {email: e@example.org, name: E, role: navigator, organisation: ni, lead: x@example.org}
  - {email: f@example.org, name: F, role: navigator, organisation: ni, left: soon}
"""


def test_a_broken_staff_file_reports_all_ten_problems_with_their_lines() -> None:
    with pytest.raises(StaffFileError) as caught:
        parse_staff_file(BROKEN_STAFF, "staff.yaml")
    problems = [str(p) for p in caught.value.problems]
    assert len(problems) == 10, "\n".join(problems)
    expected = [
        ("staff.yaml:2:", "id 'Kent' must be lowercase"),
        ("staff.yaml:3:", "unknown calendar 'mars'"),
        ("staff.yaml:4:", "unknown time zone 'Mars/Olympus'"),
        ("staff.yaml:6:", "reference_pattern is not a valid regular expression"),
        ("staff.yaml:8:", "'not-an-email' is not an email address"),
        ("staff.yaml:9:", "unknown role 'captain'"),
        ("staff.yaml:10:", "unknown organisation 'atlantis'"),
        ("staff.yaml:11:", "staff d@example.org: 'name' is missing"),
        ("staff.yaml:12:", "lead 'x@example.org' is not listed"),
        ("staff.yaml:13:", "'left' must be a date"),
    ]
    for problem, (where, words) in zip(problems, expected, strict=True):
        assert problem.startswith(where) and words in problem, problem
        assert "pydantic" not in problem and "Input should" not in problem


def test_the_documented_example_imports_and_its_broken_example_fails_as_shown() -> None:
    import re

    docs = (Path(__file__).resolve().parent.parent / "docs" / "staff.md").read_text()
    good, broken = re.findall(r"```yaml\n(.*?)```", docs, re.S)
    parsed = parse_staff_file(good, "staff.yaml")
    assert len(parsed.organisations) == 2 and len(parsed.staff) == 6
    assert next(p for p in parsed.staff if p.left).email == "ben@example.org"
    with pytest.raises(StaffFileError) as caught:
        parse_staff_file(broken, "staff.yaml")
    shown = re.search(r"```text\n(error: .*?)```", docs, re.S).group(1)
    assert [f"error: {p}" for p in caught.value.problems] == shown.strip().splitlines()


def test_a_leaver_gets_no_message_after_leaving(home: Path, monkeypatch, tmp_path) -> None:
    from engine.settings import Settings
    from notifications.dispatch import dispatch
    from notifications.testing import Recorder, smtp_server

    url = f"sqlite:///{home / 'alongside.db'}"
    recorder = Recorder()
    with smtp_server(recorder) as port:
        monkeypatch.setenv("ALONGSIDE_TRANSPORT", "smtp")
        monkeypatch.setenv("ALONGSIDE_SMTP_HOST", "127.0.0.1")
        monkeypatch.setenv("ALONGSIDE_SMTP_PORT", str(port))
        monkeypatch.setenv("ALONGSIDE_SMTP_TIMEOUT", "5")
        with session_scope(url) as session:
            service.import_staff(session, PEOPLE_YAML, at("2027-01-01T00:00"), operator())
            service.open_case(session, cat, "KNT-1", "adult-cjs", "nav@example.org",
                {"referral": "2027-01-04T09:00"}, {}, T0, operator())  # fmt: skip
        sweep.plan_and_alert(url, cat, at("2027-01-05T06:00"))  # the 4-hour reminder is due
        dispatch(url, at("2027-01-05T06:00"), Settings())
        assert "nav@example.org" in {r for _, rcpts in recorder.envelopes for r in rcpts}
        # nav@ leaves: marked `left:` in the re-imported file; nav2@ is dropped from it
        leaving = PEOPLE_YAML.replace(
            "lead: lead@example.org}\n  - {email: nav2",
            "lead: lead@example.org, left: 2027-01-05}\n  - {email: nav2",
            1,
        )
        leaving = "\n".join(line for line in leaving.splitlines() if "nav2@" not in line)
        assert "left: 2027-01-05" in leaving
        with session_scope(url) as session:
            outcome = service.import_staff(session, leaving, at("2027-01-05T08:00"), operator())
        assert outcome["to_reassign"] == {"nav@example.org": ["KNT-1"]}
        sent_before = len(recorder.envelopes)
        for day in range(5, 20):
            moment = at(f"2027-01-{day:02d}T12:00")
            sweep.plan_and_alert(url, cat, moment)
            dispatch(url, moment, Settings())
        after = [r for _, rcpts in recorder.envelopes[sent_before:] for r in rcpts]
        assert after, "escalations still go to the lead"
        assert "nav@example.org" not in after and "nav2@example.org" not in after
        # and a leaver cannot act
        with session_scope(url) as session, pytest.raises(UserError, match="cannot act as"):
            access.resolve(session, "nav@example.org")


def test_reassigning_a_leavers_cases_sends_one_handover_each_way(url, capsys) -> None:
    code, _, err = cli(capsys, "case", "assign", "--from", "nav@example.org", "--navigator",
                       "nav2@example.org", "--reason", "nav on leave")  # fmt: skip
    assert code == 0, err
    code, _, err = cli(capsys, "case", "assign", "KNT-1", "KNT-2", "--reason", "covering",
                       "--navigator", "lead@example.org", "--as=lead@example.org")  # fmt: skip
    assert code == 0, err
    with session_scope(url) as session:
        rows = (
            session.execute(
                sa.select(OutboxMessage)
                .where(OutboxMessage.kind == "handover")
                .order_by(OutboxMessage.id)
            )
            .scalars()
            .all()
        )
        entries = (
            session.execute(
                sa.select(AuditEntry)
                .where(AuditEntry.action == "case.assign")
                .order_by(AuditEntry.id)
            )
            .scalars()
            .all()
        )
    assert [(r.recipient, r.payload["direction"], r.payload["cases"]) for r in rows] == [
        ("nav2@example.org", "to", ["KNT-1"]),
        ("nav@example.org", "from", ["KNT-1"]),
        ("lead@example.org", "to", ["KNT-1", "KNT-2"]),
        ("nav2@example.org", "from", ["KNT-1", "KNT-2"]),
    ]
    assert [(e.case_ref, e.detail["previous"], e.detail["reason"]) for e in entries] == [
        ("KNT-1", "nav@example.org", "nav on leave"),
        ("KNT-1", "nav2@example.org", "covering"),
        ("KNT-2", "nav2@example.org", "covering"),
    ]
    from notifications.render import render_bodies

    bodies = render_bodies(rows[2])
    assert "KNT-1" in bodies.text and "KNT-2" in bodies.html and "nav2@example.org" in bodies.text
    assert bodies.subject.startswith("[Alongside] Handover: KNT-1, KNT-2")
    # the covering lead now holds them and sees them as their own
    rows = json.loads(cli(capsys, "case", "list", "--json", "--as", "lead@example.org")[1])
    assert {r["ref"]: r["navigator"] for r in rows} == {
        "KNT-1": "lead@example.org", "KNT-2": "lead@example.org"
    }  # fmt: skip


def test_opening_a_case_and_importing_staff_respect_scope(url: str) -> None:
    engine = store.engine_for(url)
    holders = {
        "navigator": {"nav@example.org"},
        "team_lead": {"lead@example.org", "nav@example.org", "nav2@example.org"},
        "programme_lead": {"lead@example.org", "nav@example.org", "nav2@example.org",
                           "lead2@example.org", "nav3@example.org"},
    }  # fmt: skip
    everyone = {"lead@example.org", "nav@example.org", "nav2@example.org", "lead2@example.org",
                "nav3@example.org", "ro-lead@example.org", "ro-nav@example.org"}  # fmt: skip
    for role, (who, _) in ROLES.items():
        for navigator in sorted(everyone):
            with Session(engine) as session:
                actor = actor_of(session, who)
                ref = "RO-0042" if navigator.startswith("ro-") else "KNT-0042"
                try:
                    service.open_case(session, cat, ref, "adult-cjs", navigator,
                        {"referral": "2027-01-04"}, {}, T0, actor)  # fmt: skip
                    outcome = "allowed"
                except UserError as error:
                    outcome = str(error)
                session.rollback()
            if navigator in holders.get(role, everyone):
                assert outcome == "allowed", (role, navigator, outcome)
            else:
                assert outcome.startswith(f"unknown navigator '{navigator}'"), (role, outcome)
        with Session(engine) as session:
            actor = actor_of(session, who)
            if actor.is_admin:
                service.import_staff(session, PEOPLE_YAML, T0, actor)
            else:
                with pytest.raises(UserError, match="only a programme admin"):
                    service.import_staff(session, PEOPLE_YAML, T0, actor)
            session.rollback()
