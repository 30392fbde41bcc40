"""The shipped journeys say what the domain requires (../shared/DOMAIN.md, issue 11): each
check plans a case on a shipped journey with `alongside journeys simulate` and reads back
the dated tasks.

Expectations are local due instants (`due_local` without its offset), so one check reads
the same in London and Bucharest; each says which holidays and weekends it crosses.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from engine.core.calendar import get_calendar, reminder_time
from tests.conftest import SHIPPED_IDS, at, cli, shipped_catalog

CJS_JOURNEYS = SHIPPED_IDS
NRM_ADULTS = ("adult-cjs", "adult-declined-nrm", "adult-scotland", "adult-northern-ireland")


def plan_rows(capsys, journey: str, events: list[str], now: str, facts: tuple[str, ...] = ()):
    """The rows of `alongside journeys simulate JOURNEY --json` for these events and facts."""
    args = ["journeys", "simulate", journey, "--now", now, "--json"]
    for event in events:
        args += ["--event", event]
    for fact in facts:
        args += ["--fact", fact]
    code, out, err = cli(capsys, *args)
    assert code == 0, err
    return json.loads(out)


def simulate(capsys, journey: str, events: list[str], now: str, facts: tuple[str, ...] = ()):
    """{(obligation, occurrence): local due, as 'YYYY-MM-DDTHH:MM:SS'} of the simulated plan."""
    rows = plan_rows(capsys, journey, events, now, facts)
    return {(r["obligation"], r["occurrence"]): r["due_local"][:19] for r in rows}


def opened(journey: str) -> list[str]:
    """The events that put a case on `journey` in the investigation (Romania: returned)."""
    events = ["referral=2027-01-04T09:00"]
    return events + (["arrival=2027-01-20"] if journey == "safe-return-romania" else [])


def due(tasks: dict, obligation: str) -> list[str]:
    return [when for (ob, _), when in sorted(tasks.items()) if ob == obligation]


@pytest.mark.parametrize("journey", CJS_JOURNEYS)
def test_each_arrest_release_charge_and_hearing_is_told_within_a_working_day(
    home: Path, capsys, journey: str
) -> None:
    # DOMAIN.md, Victims' Code: told of arrest, release, bail or charge, and of hearing dates,
    # within 1 working day (enhanced rights; the Scottish and Northern Ireland journeys keep
    # the same timescale as their default). Each recording is a new occurrence. No date here
    # is a holiday in any of the four calendars: Tuesday 2 March 2027 and on.
    events = [
        *opened(journey),
        "arrest=2027-03-02",
        "arrest=2027-03-05",  # a Friday: told on Monday 8th
        "release_or_bail=2027-03-03",
        "release_or_bail=2027-03-10",
        "charge=2027-04-13",
        "charge=2027-04-20",
        "hearing_listed=2027-05-04",
        "hearing_listed=2027-09-07",  # the trial is re-listed: told again
        "trial=2027-11-16",
    ]
    tasks = simulate(capsys, journey, events, "2027-05-05")
    end = "T23:59:59"
    assert due(tasks, "told-of-arrest") == ["2027-03-03" + end, "2027-03-08" + end]
    assert due(tasks, "told-of-release-or-bail") == ["2027-03-04" + end, "2027-03-11" + end]
    assert due(tasks, "told-of-charge") == ["2027-04-14" + end, "2027-04-21" + end]
    assert due(tasks, "told-of-hearing-date") == ["2027-05-05" + end, "2027-09-08" + end]
    assert [k for k in tasks if k[0] == "told-of-hearing-date"] == [
        ("told-of-hearing-date", 1),
        ("told-of-hearing-date", 2),
    ]
    # Once before the trial, whatever the number of listings: 8 weeks before 16 November.
    assert due(tasks, "witness-needs-assessment") == ["2027-09-21" + end]
    if journey != "safe-return-romania":
        assert due(tasks, "witness-service-referral") == ["2027-09-21" + end]


def test_the_hearing_and_arrest_told_of_tasks_count_england_and_wales_working_days(
    home: Path, capsys
) -> None:
    # Arrest on Thursday 25 March 2027: Good Friday (26th), the weekend and Easter Monday
    # (29th) are not working days, so the survivor must be told by Tuesday 30 March (BST).
    events = [*opened("adult-cjs"), "arrest=2027-03-25", "charge=2027-04-30",
              "hearing_listed=2027-05-28"]  # fmt: skip
    tasks = simulate(capsys, "adult-cjs", events, "2027-05-01")
    assert tasks[("told-of-arrest", 1)] == "2027-03-30T23:59:59"
    # Charge on Friday 30 April: the early May bank holiday is Monday 3 May.
    assert tasks[("told-of-charge", 1)] == "2027-05-04T23:59:59"
    # A hearing date received Friday 28 May: the spring bank holiday is Monday 31 May.
    assert tasks[("told-of-hearing-date", 1)] == "2027-06-01T23:59:59"


@pytest.mark.parametrize("journey", CJS_JOURNEYS)
def test_closure_and_data_retention_reviews_count_from_sentence(
    home: Path, capsys, journey: str
) -> None:
    # DOMAIN.md, After the verdict: case closure and a data-retention review some months
    # after sentence [default: 3 and 6 months]. An acquittal has no sentence: they count
    # from the verdict then.
    events = [*opened(journey), "verdict=2027-06-01", "sentence=2027-07-15"]
    facts = ("convicted=true", "sentence_months=6")
    convicted = simulate(capsys, journey, events, "2027-06-02", facts)
    assert due(convicted, "case-closure-review") == ["2027-10-15T23:59:59"]
    assert due(convicted, "data-retention-review") == ["2028-01-15T23:59:59"]
    assert not {"acquittal-closure-review", "acquittal-data-retention-review"} & {
        ob for ob, _ in convicted
    }
    acquitted = simulate(capsys, journey, events[:-1], "2027-06-02", ("convicted=false",))
    assert due(acquitted, "acquittal-closure-review") == ["2027-09-01T23:59:59"]
    assert due(acquitted, "acquittal-data-retention-review") == ["2027-12-01T23:59:59"]
    assert "case-closure-review" not in {ob for ob, _ in acquitted}
    undecided = simulate(capsys, journey, events[:-1], "2027-06-02")  # convicted not yet set
    assert not {ob for ob, _ in undecided} & {
        "case-closure-review",
        "acquittal-closure-review",
    }


@pytest.mark.parametrize("journey", CJS_JOURNEYS)
def test_a_decision_not_to_charge_starts_a_closure_stage(home: Path, capsys, journey: str) -> None:
    # Decision not to charge on Friday 7 May 2027: told within 1 working day (Monday 10th,
    # DOMAIN.md Victims' Code), the right to review explained within 5 [default], closure
    # reviewed after 3 months and data retention after 6 [default].
    events = [*opened(journey), "arrest=2027-03-02", "no_charge=2027-05-07"]
    tasks = simulate(capsys, journey, events, "2027-05-08")
    assert tasks[("told-of-no-charge", 1)] == "2027-05-10T23:59:59"
    assert tasks[("right-to-review", 1)] == "2027-05-14T23:59:59"
    assert tasks[("no-charge-closure-review", 1)] == "2027-08-07T23:59:59"
    assert tasks[("no-charge-data-retention-review", 1)] == "2027-11-07T23:59:59"
    stages = {r["obligation"]: r["stage"] for r in plan_rows(capsys, journey, events, "2027-05-08")}
    assert stages["no-charge-closure-review"] == stages["told-of-no-charge"] == "after-no-charge"


@pytest.mark.parametrize("journey", NRM_ADULTS)
def test_the_conclusive_grounds_decision_is_chased_until_it_comes(
    home: Path, capsys, journey: str
) -> None:
    # DOMAIN.md, NRM: the CG decision comes at least 30 days after RG and takes many months,
    # so it is chased every 3 months [default] from 30 days after RG until it is recorded.
    nrm = ["nrm_referral=2027-01-05", "reasonable_grounds=2027-01-15"]
    facts = ("nrm_accepted=true",) if journey == "adult-declined-nrm" else ()
    waiting = simulate(capsys, journey, [*opened(journey), *nrm], "2027-03-01", facts)
    assert due(waiting, "conclusive-grounds-chase") == ["2027-05-14T23:59:59"]  # 14 Feb + 3 months
    before = simulate(capsys, journey, [*opened(journey), *nrm], "2027-02-10", facts)
    assert "conclusive-grounds-chase" not in {ob for ob, _ in before}  # 30 days not yet up
    decided = [*opened(journey), *nrm, "conclusive_grounds=2027-02-25"]
    done = simulate(capsys, journey, decided, "2027-03-01", facts)
    assert "conclusive-grounds-chase" not in {ob for ob, _ in done}
    # After a positive CG, at least 45 days of move-on support: the plan is agreed by day 30.
    assert done[("move-on-plan", 1)] == "2027-03-27T23:59:59"


def test_later_nrm_consent_brings_the_decisions_recovery_review_and_move_on_plan(
    home: Path, capsys
) -> None:
    # DOMAIN.md, NRM and Variants: an adult who declined may consent later; the NRM route then
    # runs as for any adult: RG within 5 working days, a recovery period of at least 30 days
    # (reviewed at 3 weeks, default), CG and at least 45 days of move-on support.
    events = [
        *opened("adult-declined-nrm"),
        "nrm_referral=2027-03-01",
        "reasonable_grounds=2027-03-05",
        "conclusive_grounds=2027-09-01",
    ]
    tasks = simulate(capsys, "adult-declined-nrm", events, "2027-09-02", ("nrm_accepted=true",))
    assert tasks[("reasonable-grounds-decision", 1)] == "2027-03-08T23:59:59"
    assert tasks[("recovery-period-review", 1)] == "2027-03-26T23:59:59"
    assert tasks[("move-on-plan", 1)] == "2027-10-01T23:59:59"
    assert ("nrm-offer-90-days", 1) not in tasks  # consent given: no more offers


@pytest.mark.parametrize("journey", CJS_JOURNEYS)
def test_the_pre_trial_visit_is_planned_inside_its_two_to_four_week_window(
    journey: str,
) -> None:
    # DOMAIN.md, Around the trial: the pre-trial court visit 2-4 weeks before the trial. It
    # is due at the end of the window (2 weeks out) and the first reminder comes when the
    # window opens (4 weeks out, 08:00 local); a trial on Monday 15 November 2027.
    definition = shipped_catalog().resolve(journey)
    visit = "remote-link-site-visit" if journey == "safe-return-romania" else "pre-trial-visit"
    _, ob = definition.obligations[visit]
    assert str(ob.due) == "2 weeks before trial"
    cal = get_calendar(definition.calendar)
    due_at = at("2027-11-01T23:59:59").replace(tzinfo=definition.tz)
    reminders = sorted(reminder_time(due_at, d, cal, definition.tz) for d in ob.remind)
    assert [r.astimezone(definition.tz).isoformat()[:16] for r in reminders] == [
        "2027-10-18T08:00",  # 4 weeks before the trial: the window opens
        "2027-10-25T08:00",
    ]


@pytest.mark.parametrize("journey", NRM_ADULTS)
def test_the_employment_tribunal_claim_counts_from_the_last_unpaid_wage(
    home: Path, capsys, journey: str
) -> None:
    # DOMAIN.md, After the verdict: employment tribunal (unpaid wages) within 3 months, which
    # run from the last unpaid wage, not from the referral; 2 months leaves time for ACAS
    # early conciliation [default]. Finding that date is due 10 working days after referral.
    facts = ("labour_exploitation=true",)
    before = simulate(capsys, journey, opened(journey), "2027-01-05", facts)
    assert before[("last-unpaid-wage-date", 1)] == "2027-01-18T23:59:59"
    assert "employment-tribunal" not in {ob for ob, _ in before}  # no date yet, no deadline
    events = [*opened(journey), "last_unpaid_wage=2026-12-20"]
    tasks = simulate(capsys, journey, events, "2027-01-05", facts)
    assert tasks[("employment-tribunal", 1)] == "2027-02-20T23:59:59"
    not_labour = simulate(capsys, journey, opened(journey), "2027-01-05")
    assert "last-unpaid-wage-date" not in {ob for ob, _ in not_labour}


def test_the_romanian_journey_keeps_the_victims_code_routes(home: Path, capsys) -> None:
    # DOMAIN.md, Victims' Code: Witness Service referral before trial, a Victim Personal
    # Statement offered, told of compensation routes. Referral Monday 1 February 2027: no
    # holiday in England and Wales or Romania until March.
    events = ["referral=2027-02-01T09:00", "charge=2027-03-02", "trial=2027-11-16"]
    tasks = simulate(capsys, "safe-return-romania", events, "2027-02-02")
    assert tasks[("vps-offered", 1)] == "2027-03-01T23:59:59"  # 20 working days [default]
    assert tasks[("compensation-routes", 1)] == "2027-03-01T23:59:59"  # 1 month [default]
    assert tasks[("witness-service-referral", 1)] == "2027-09-21T23:59:59"  # 8 weeks before
    assert tasks[("evidence-route-agreed", 1)] == "2027-08-24T23:59:59"  # 12 weeks before


def test_scotland_counts_scottish_working_days_and_supports_for_90_days(home: Path, capsys) -> None:
    # Calendar scotland: 1 and 2 January 2027 are holidays (2 January a Saturday, so Monday
    # 4th is its substitute); Easter Monday is not a holiday, St Andrew's Day (Tuesday 30
    # November) is. Referral on Thursday 31 December 2026.
    events = ["referral=2026-12-31T10:00", "arrest=2027-03-25", "charge=2027-04-06",
              "hearing_listed=2027-11-29", "trial=2028-03-06"]  # fmt: skip
    tasks = simulate(capsys, "adult-scotland", events, "2027-01-01")
    assert tasks[("nrm-referral", 1)] == "2027-01-06T23:59:59"  # England and Wales: the 5th
    assert tasks[("support-provider-referral", 1)] == "2027-01-06T23:59:59"
    assert tasks[("told-of-arrest", 1)] == "2027-03-29T23:59:59"  # England and Wales: the 30th
    assert tasks[("told-of-hearing-date", 1)] == "2027-12-01T23:59:59"  # not St Andrew's Day
    # HTE(S)A 2015: support for at least 90 days; its end is planned two weeks before.
    assert tasks[("support-end-plan", 1)] == "2027-03-16T23:59:59"  # 75 days
    during = simulate(capsys, "adult-scotland", events[:1], "2027-03-01")
    assert during[("support-review", 1)] == "2027-01-28T23:59:59"  # every 4 weeks
    # ... or until the conclusive grounds decision, if that is later (last of the two).
    early_cg = [events[0], "conclusive_grounds=2027-02-15"]
    after = simulate(capsys, "adult-scotland", early_cg, "2027-04-01")  # day 91
    assert "support-review" not in {ob for ob, _ in after}
    awaited = simulate(capsys, "adult-scotland", events[:1], "2027-04-01")  # no CG yet
    assert ("support-review", 1) in awaited
    late_cg = [events[0], "conclusive_grounds=2027-05-03"]
    assert ("support-review", 1) in simulate(capsys, "adult-scotland", late_cg, "2027-05-02")
    assert "support-review" not in {
        ob for ob, _ in simulate(capsys, "adult-scotland", late_cg, "2027-05-04")
    }


def test_northern_ireland_counts_its_working_days_and_supports_for_45_days(
    home: Path, capsys
) -> None:
    # Calendar northern-ireland: St Patrick's Day (Wednesday 17 March 2027) and the Battle
    # of the Boyne (Monday 12 July 2027) are holidays. Referral on Tuesday 16 March 2027.
    events = ["referral=2027-03-16T10:00", "arrest=2027-07-09"]
    tasks = simulate(capsys, "adult-northern-ireland", events, "2027-03-17")
    assert tasks[("support-provider-referral", 1)] == "2027-03-19T23:59:59"  # E&W: the 18th
    assert tasks[("told-of-arrest", 1)] == "2027-07-13T23:59:59"  # E&W: Monday 12th
    # HTE(CJSV)A (NI) 2015: support for at least 45 days; what follows is planned at day 30.
    assert tasks[("support-end-plan", 1)] == "2027-04-15T23:59:59"
    assert tasks[("support-review", 1)] == "2027-03-30T23:59:59"  # every 2 weeks
    after = simulate(capsys, "adult-northern-ireland", events, "2027-05-01")  # day 46
    assert "support-review" not in {ob for ob, _ in after}


@pytest.mark.parametrize("journey", ["adult-cjs", "adult-declined-nrm", "child-cjs"])
def test_victims_code_support_referral_counts_from_the_report_to_police(
    home: Path, capsys, journey: str
) -> None:
    # DOMAIN.md, Victims' Code: referral to support services within 2 working days of
    # reporting. Reported on Thursday 31 December 2026, referred on Monday 4 January 2027:
    # 1 January is a holiday, so the 2 working days are the 4th and 5th.
    reported = ["reported=2026-12-31", "referral=2027-01-04T09:00"]
    tasks = simulate(capsys, journey, reported, "2027-01-04T10:00")
    assert tasks[("support-services-referral", 1)] == "2027-01-05T23:59:59"
    # CICA: within 2 years of reporting; 18 months after it [default margin], clamped to
    # the end of June.
    assert tasks[("cica-claim", 1)] == "2028-06-30T23:59:59"
    unreported = simulate(capsys, journey, reported[1:], "2027-01-04T10:00")  # referral only
    assert unreported[("support-services-referral", 1)] == "2027-01-06T23:59:59"
    assert unreported[("cica-claim", 1)] == "2028-07-04T23:59:59"


@pytest.mark.parametrize("journey", CJS_JOURNEYS)
def test_a_decision_not_to_charge_ends_the_silent_period_check_ins(
    home: Path, capsys, journey: str
) -> None:
    # A charge on 2 March 2027 starts the silent period's monthly check-ins; a decision on
    # 7 May 2027 that no one will be charged (the case discontinued) ends them.
    events = [*opened(journey), "charge=2027-03-02", "trial=2027-11-16"]
    assert ("monthly-check-in", 1) in simulate(capsys, journey, events, "2027-04-01")
    stopped = simulate(capsys, journey, [*events, "no_charge=2027-05-07"], "2027-05-20")
    assert "monthly-check-in" not in {ob for ob, _ in stopped}
    assert stopped[("no-charge-closure-review", 1)] == "2027-08-07T23:59:59"


@pytest.mark.parametrize("journey", CJS_JOURNEYS)
def test_a_decision_not_to_charge_ends_the_fortnightly_check_ins_before_charge(
    home: Path, capsys, journey: str
) -> None:
    # The fortnightly check-ins after the first month run until a charge or, as here, a
    # decision on 7 May 2027 that no one will be charged; the closure stage takes over.
    events = [*opened(journey), "arrest=2027-03-02"]
    assert ("fortnightly-check-in", 1) in simulate(capsys, journey, events, "2027-04-01")
    stopped = simulate(capsys, journey, [*events, "no_charge=2027-05-07"], "2027-05-20")
    assert "fortnightly-check-in" not in {ob for ob, _ in stopped}
    assert stopped[("no-charge-closure-review", 1)] == "2027-08-07T23:59:59"


@pytest.mark.parametrize("journey", CJS_JOURNEYS)
def test_a_charge_after_a_decision_not_to_charge_brings_the_check_ins_back(
    home: Path, capsys, journey: str
) -> None:
    # A Victims' Right to Review overturns the decision of 7 May 2027 not to charge, and a
    # charge follows on 1 June: the silent period's monthly check-ins start again from it
    # (the earlier no_charge ends the episodes before it, never the charge's own: rule 3).
    events = [*opened(journey), "arrest=2027-03-02", "no_charge=2027-05-07", "charge=2027-06-01"]
    reviewed = simulate(capsys, journey, events, "2027-06-20")
    assert reviewed[("monthly-check-in", 1)] == "2027-07-01T23:59:59"


def test_the_romanian_journey_counts_england_and_wales_duties_in_england_and_wales_days(
    home: Path, capsys
) -> None:
    # DOMAIN.md, Variants: the Romanian navigator works in the Romanian calendar and time
    # zone, but the Victims' Code duties are owed in England and Wales (rule 6). An arrest
    # on Thursday 25 March 2027: Good Friday and Easter Monday are English holidays, not
    # Romanian ones (Orthodox Easter is 2 May), so the survivor is told by Tuesday 30 March,
    # London time. Arrival in Romania on Monday 31 May: 1 June is a Romanian holiday
    # (Children's Day), not an English one, so Witness Care has the details by 2 June.
    events = ["referral=2027-01-04T09:00", "arrival=2027-05-31", "arrest=2027-03-25"]
    rows = plan_rows(capsys, "safe-return-romania", events, "2027-06-01")
    due_local = {r["obligation"]: r["due_local"] for r in rows}
    assert due_local["told-of-arrest"] == "2027-03-30T23:59:59+01:00"  # BST
    assert due_local["witness-care-details"] == "2027-06-02T23:59:59+03:00"  # EEST
