"""The reports page: the same figures as `alongside report outcomes|duties --json` for the
same period and organisation, CSVs of counts only, no case reference anywhere, a wrong
date's message beside its field, and the page for programme leads only."""

from __future__ import annotations

import csv
import io
import json
import re

import pytest

from tests.conftest import cli
from tests.test_reports import operation, referrals  # noqa: F401 (the fixtures)
from tests.web.conftest import sign_in

MARCH = {
    "from-day": "1", "from-month": "3", "from-year": "2027",
    "to-day": "31", "to-month": "3", "to-year": "2027",
}  # fmt: skip
CELL = re.compile(r'<td [^>]*data-organisation="([^"]+)" data-measure="([a-z_]+)">([^<]*)</td>')
MONTH_CELL = re.compile(r'<td [^>]*data-month="([^"]+)" data-measure="([a-z_]+)">([^<]*)</td>')
TAG_CELL = re.compile(r'<td [^>]*data-tag="([^"]+)" data-measure="([a-z_]+)">([^<]*)</td>')
REFERENCE = re.compile(r"\b(KNT|RO|OP)-\d{4}\b")


def shown(value, percent: bool = False) -> str:
    """A figure as the page writes it."""
    if value is None:
        return "\N{EN DASH}"
    return f"{value * 100:.1f}%" if percent else f"{value:,}"


def report_json(capsys, kind: str, *extra: str) -> dict:
    code, out, err = cli(
        capsys, "--as", "prog@example.org", "report", kind,
        "--from", "2027-03-01", "--to", "2027-03-31", *extra, "--json",
    )  # fmt: skip
    assert code == 0, err
    return json.loads(out)


@pytest.fixture
def lead(client, settings, referrals, operation):  # noqa: F811 (the fixtures)
    return sign_in(client, settings, "prog@example.org")


def test_the_page_shows_the_command_lines_figures_for_the_period(lead, capsys):
    page = lead.get("/reports", params=MARCH)
    assert page.status_code == 200
    outcomes = report_json(capsys, "outcomes")
    cells = {(org, key): text for org, key, text in CELL.findall(page.text)}
    assert len(outcomes["organisations"]) == 1  # the lead's one organisation: kent
    for key, value in outcomes.items():
        if key in ("from", "to", "organisations"):
            continue
        assert cells[("kent", key)] == shown(value, key == "engagement_rate"), key
    assert outcomes["triaged"] == 4 and outcomes["arrests"] == 4  # the fixtures' own figures

    duties = report_json(capsys, "duties", "--now", "2027-01-05T09:00")
    tags = {(tag, key): text for tag, key, text in TAG_CELL.findall(page.text)}
    assert duties["tags"], "the shipped journeys tag their Victims' Code duties"
    for row in duties["tags"]:
        for key in ("due", "on_time", "late", "waived", "open", "overdue"):
            assert tags[(row["tag"], key)] == shown(row[key]), (row["tag"], key)
        assert tags[(row["tag"], "on_time_rate")] == shown(row["on_time_rate"], True)
    assert "<svg" in page.text and 'role="img"' in page.text
    assert REFERENCE.search(page.text) is None


def test_the_months_add_up_to_the_period(lead, capsys):
    params = {**MARCH, "from-month": "2", "from-day": "20", "to-month": "4", "to-day": "30"}
    page = lead.get("/reports", params=params)
    months = {}
    for month, key, text in MONTH_CELL.findall(page.text):
        months.setdefault(month, {})[key] = text
    assert list(months) == ["2027-02-20", "2027-03-01", "2027-04-01"]  # cut to the period
    code, out, _ = cli(capsys, "--as", "prog@example.org", "report", "outcomes",
                       "--from", "2027-03-01", "--to", "2027-03-31", "--json")  # fmt: skip
    march = json.loads(out)
    assert code == 0 and months["2027-03-01"]["triaged"] == shown(march["triaged"])
    assert months["2027-03-01"]["arrests"] == shown(march["arrests"])


def test_each_csv_holds_counts_only(lead, capsys):
    outcomes = lead.get("/reports/outcomes.csv", params=MARCH)
    assert outcomes.status_code == 200
    assert outcomes.headers["content-type"].startswith("text/csv")
    assert "attachment" in outcomes.headers["content-disposition"]
    code, out, _ = cli(capsys, "--as", "prog@example.org", "report", "outcomes",
                       "--from", "2027-03-01", "--to", "2027-03-31", "--csv")  # fmt: skip
    assert code == 0 and outcomes.text == out  # the command line's CSV, byte for byte
    for name in ("outcomes", "by-month", "duties"):
        got = lead.get(f"/reports/{name}.csv", params=MARCH)
        assert got.status_code == 200, name
        rows = list(csv.reader(io.StringIO(got.text)))
        assert len(rows) > 1, name
        assert REFERENCE.search(got.text) is None, name
        for row in rows[1:]:
            for cell in row:
                # a count, a rate, a date, or a name of an organisation, tag or obligation
                assert re.fullmatch(r"[0-9.]*|\d{4}-\d\d-\d\d|[a-z][a-z0-9-]*", cell), (name, cell)


def test_a_wrong_date_gets_its_message_beside_the_field(lead):
    page = lead.get("/reports", params={**MARCH, "from-day": "31", "from-month": "2"})
    assert page.status_code == 400
    fieldset = page.text.split('id="from-hint"')[1].split("</fieldset>")[0]
    assert 'id="from-error"' in fieldset and "The first day must be a real date" in fieldset
    assert 'href="#from-day"' in page.text  # the error summary links to the field
    assert 'id="from-day" name="from-day" type="text" inputmode="numeric" value="31"' in page.text
    assert "outcomes-table" not in page.text  # no figures for a wrong period

    missing = lead.get("/reports", params={**MARCH, "to-year": ""})
    assert "The last day must include a year" in missing.text.split('id="to-hint"')[1]
    backwards = lead.get("/reports", params={**MARCH, "to-month": "1"})
    assert "The last day must be the same as or after the first day" in backwards.text
    other = lead.get("/reports", params={**MARCH, "organisation": "ro"})
    assert other.status_code == 400 and "Choose an organisation from the list" in other.text
    assert lead.get("/reports/outcomes.csv", params={**MARCH, "to-month": "1"}).status_code == 404


def test_the_first_visit_shows_last_month(lead):
    page = lead.get("/reports")
    assert page.status_code == 200
    assert "Outcomes, 1 December 2026 to 31 December 2026" in page.text  # the clock: Jan 2027


@pytest.mark.parametrize("email", ["nav@example.org", "lead@example.org", "ro-lead@example.org"])
def test_reports_are_not_found_for_anyone_but_programme_leads(client, settings, email):
    sign_in(client, settings, email)
    missing = client.get("/no-such-page")
    for path in ("/reports", "/reports/outcomes.csv", "/reports/duties.csv"):
        got = client.get(path, params=MARCH)
        assert (got.status_code, got.text) == (404, missing.text), (email, path)
