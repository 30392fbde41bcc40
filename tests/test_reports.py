"""The outcomes report: each measure's edges, per organisation, counts only.

March 2027 in London ends in British Summer Time (clocks go forward on 28 March), so the
period's end is 2027-03-31T23:00Z in Kent and 2027-03-31T21:00Z in Romania: an event at
23:10Z on 31 March is on 1 April local, and out.
"""

from __future__ import annotations

import csv
import io
import json

import pytest

from engine import investigations as inv
from engine import reports, service
from engine.access import resolve
from engine.core.actors import operator
from engine.core.errors import UserError
from engine.core.reporting import OUTCOMES, period
from engine.store import session_scope
from tests.conftest import at, shipped_catalog
from tests.test_cli_cases import run

CAT = shipped_catalog()
MARCH = period("2027-03-01", "2027-03-31")
APRIL = period("2027-03-01", "2027-04-30")


def open_case(session, ref, journey, referral, navigator="nav@example.org", facts=None):
    service.open_case(session, CAT, ref, journey, navigator, {"referral": referral},
                      facts if facts is not None else ({"age": "30"} if "cjs" in journey else {}),
                      at("2027-02-01T00:00"), operator())  # fmt: skip


def kent(report: dict) -> dict:
    return next(o for o in report["organisations"] if o["organisation"] == "kent")


@pytest.fixture
def referrals(staffed: str) -> str:
    """Triage referrals around March's first and last local days, two of them moved."""
    with session_scope(staffed) as session:
        open_case(session, "KNT-0001", "triage", "2027-03-01T00:30")  # first local day
        open_case(session, "KNT-0002", "triage", "2027-02-28T23:30")  # the day before
        open_case(session, "KNT-0003", "triage", "2027-03-31T23:30+01:00")  # last local day
        open_case(session, "KNT-0004", "triage", "2027-04-01T00:10+01:00")  # 23:10Z, April
        open_case(session, "KNT-0005", "triage", "2027-03-10")  # moved within March
        open_case(session, "KNT-0006", "triage", "2027-03-12")  # moved in April
        open_case(session, "RO-0001", "safe-return-romania", "2027-03-31T23:30+03:00",
                  navigator="ro-nav@example.org")  # fmt: skip
        service.move_case(session, CAT, "KNT-0005", "adult-cjs", "full support",
                          at("2027-03-15T10:00"), operator())  # fmt: skip
        service.move_case(session, CAT, "KNT-0006", "adult-cjs", "full support",
                          at("2027-04-02T10:00"), operator())  # fmt: skip
    return staffed


def test_triaged_counts_the_local_days_and_full_support_the_journey_at_the_end(
    referrals: str,
) -> None:
    with session_scope(referrals) as session:
        march = reports.outcomes(session, CAT, MARCH, operator())
        spring = reports.outcomes(session, CAT, APRIL, operator())
    assert kent(march)["triaged"] == 4  # 0001, 0003, 0005, 0006
    assert kent(march)["full_support"] == 1  # 0005; 0006 moved after the end
    assert march["triaged"] == 5 and march["full_support"] == 2  # RO-0001 is not on triage
    assert kent(spring)["triaged"] == 5 and kent(spring)["full_support"] == 2  # 0004; 0006


def test_the_organisation_filter_and_the_scope(referrals: str) -> None:
    with session_scope(referrals) as session:
        only = reports.outcomes(session, CAT, MARCH, operator(), "kent")
        lead = reports.outcomes(session, CAT, MARCH, resolve(session, "prog@example.org"))
        assert [o["organisation"] for o in only["organisations"]] == ["kent"]
        assert only["triaged"] == 4 and lead == only
        with pytest.raises(UserError, match="unknown organisation 'ro'"):
            reports.outcomes(session, CAT, MARCH, resolve(session, "prog@example.org"), "ro")
        with pytest.raises(UserError, match="reports are for programme leads"):
            reports.outcomes(session, CAT, MARCH, resolve(session, "nav@example.org"))


@pytest.fixture
def operation(staffed: str) -> str:
    """OP-0001 in Kent: advice, arrests, a charge; six survivors, some withdrawing."""
    with session_scope(staffed) as session:
        for ref in ("KNT-0011", "KNT-0012", "KNT-0013", "KNT-0014", "KNT-0015", "KNT-0016"):
            open_case(session, ref, "adult-cjs", "2027-01-10")
        inv.open_investigation(session, CAT, "OP-0001", "kent", at("2027-02-01"), operator())
        inv.open_investigation(session, CAT, "OP-0002", "kent", at("2027-02-01"), operator())
        inv.link(session, CAT, "OP-0001", ["KNT-0011", "KNT-0012", "KNT-0013", "KNT-0015"],
                 at("2027-02-01"), operator())  # fmt: skip
        record = [
            ("OP-0001", "strategic_advice", "2027-03-01", None),  # first local day
            ("OP-0001", "strategic_advice", "2027-03-20", None),  # the same investigation
            ("OP-0002", "strategic_advice", "2027-02-27", None),  # before the period
            ("OP-0001", "arrest", "2027-03-10T06:00", 3),
            ("OP-0001", "arrest", "2027-03-31T23:30+01:00", 1),  # last local day
            ("OP-0001", "arrest", "2027-04-01T00:10+01:00", 5),  # April in London
            ("OP-0001", "charge", "2027-03-31", 2),
        ]
        for ref, name, when, count in record:
            inv.record_event(session, CAT, ref, name, when, count, at("2027-04-02"), operator())
        withdraw = {"withdrew_from_investigation": "2027-03-05"}
        service.record_events(session, CAT, "KNT-0012", withdraw, at("2027-03-05"), operator())
        service.record_events(session, CAT, "KNT-0013", withdraw, at("2027-03-05"), operator())
        service.record_events(session, CAT, "KNT-0013", {"rejoined_investigation": "2027-03-20"},
                              at("2027-03-20"), operator())  # fmt: skip
        service.record_events(session, CAT, "KNT-0015",
                              {"withdrew_from_investigation": "2027-04-02"},
                              at("2027-04-02"), operator())  # fmt: skip
        # Linked after the arrest was recorded, within the period; and after the period.
        inv.link(session, CAT, "OP-0001", ["KNT-0014"], at("2027-03-15T12:00"), operator())
        inv.link(session, CAT, "OP-0001", ["KNT-0016"], at("2027-04-01T12:00"), operator())
    return staffed


def test_investigation_measures_and_engagement(operation: str) -> None:
    with session_scope(operation) as session:
        march = reports.outcomes(session, CAT, MARCH, operator())
    row = kent(march)
    assert row["investigations_supported"] == 1  # OP-0001 once; OP-0002's was in February
    assert row["arrests"] == 4 and row["charged"] == 2 and row["convicted"] == 0
    # Linked at the end: 0011, 0012 (withdrew), 0013 (withdrew, rejoined), 0014 (linked
    # after the arrest), 0015 (withdraws only in April); not 0016 (linked in April).
    assert row["engagement_linked"] == 5 and row["engagement_engaged"] == 4
    assert row["engagement_rate"] == 0.8
    assert march["engagement_rate"] == 0.8 and march["arrests"] == 4


def test_arrests_charged_and_convicted_sum_the_counts_of_the_period(staffed: str) -> None:
    with session_scope(staffed) as session:
        inv.open_investigation(session, CAT, "OP-0003", "kent", at("2027-02-01"), operator())
        record = [
            ("arrest", "2027-03-01", 2),  # the first local day (00:00 GMT)
            ("charge", "2027-03-15", 1),
            ("conviction", "2027-03-31T23:30+01:00", 1),  # the last local day
            ("conviction", "2027-04-01T00:10+01:00", 3),  # 23:10Z on 31 March: April in London
        ]
        for name, when, count in record:
            inv.record_event(session, CAT, "OP-0003", name, when, count, at("2027-04-02"),
                             operator())  # fmt: skip
        march = reports.outcomes(session, CAT, MARCH, operator())
        spring = reports.outcomes(session, CAT, APRIL, operator())
    counted = ("arrests", "charged", "convicted")
    assert [kent(march)[key] for key in counted] == [2, 1, 1]
    assert [march[key] for key in counted] == [2, 1, 1]  # the total: Romania has none
    assert [kent(spring)[key] for key in counted] == [2, 1, 4]  # with the April conviction
    assert kent(march)["investigations_supported"] == 0  # no strategic advice


def test_no_linked_case_has_no_rate(staffed: str) -> None:
    with session_scope(staffed) as session:
        report = reports.outcomes(session, CAT, MARCH, operator())
    assert report["engagement_rate"] is None and report["engagement_linked"] == 0
    assert set(report) == {"from", "to", *OUTCOMES, "organisations"}


def test_json_and_csv_hold_exactly_the_measures_and_no_case_reference(operation: str) -> None:
    with session_scope(operation) as session:
        open_case(session, "KNT-0099", "triage", "2027-03-02")
    raw = run("report", "outcomes", "--from", "2027-03-01", "--to", "2027-03-31", "--json").stdout
    report = json.loads(raw)
    assert list(report) == ["from", "to", *OUTCOMES, "organisations"]
    assert report["from"] == "2027-03-01" and report["to"] == "2027-03-31"
    assert all(list(o) == ["organisation", *OUTCOMES] for o in report["organisations"])
    assert report["triaged"] == 1 and report["arrests"] == 4
    table = run("report", "outcomes", "--from", "2027-03-01", "--to", "2027-03-31", "--csv")
    rows = list(csv.DictReader(io.StringIO(table.stdout)))
    assert [r["organisation"] for r in rows] == ["kent", "ro", "all"]
    assert rows[-1]["engagement_rate"] == "0.8" and rows[1]["engagement_rate"] == ""
    shown = run("report", "outcomes", "--from", "2027-03-01", "--to", "2027-03-31").stdout
    for text in (raw, table.stdout, shown):
        assert "KNT-" not in text and "OP-0" not in text
    bad = run("report", "outcomes", "--from", "2027-03-31", "--to", "2027-03-01", ok=False)
    assert (bad.returncode, bad.stderr) == (
        1,
        "error: --from 2027-03-31 is after --to 2027-03-01\n",
    )
