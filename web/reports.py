"""The reports page (programme leads and admins): the outcome measures for a chosen period
and organisation, referrals and outcomes by month, and the duties' on-time rates by tag,
each chart with its table, each table as CSV.

The figures are `engine.reports`' own (the same as `alongside report outcomes|duties`, in
the person's scope), so the page, its CSV and the command line never disagree. Reports
are counts only: nothing here names a case. The period is chosen with two GOV.UK date
inputs (a GET form: choosing a period changes nothing), checked here so that a wrong date
gets its message beside its field; the default is last month.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime

from fastapi import APIRouter, HTTPException, Request
from sqlmodel import Session
from starlette.responses import Response

from engine import reports
from engine.core.reporting import (
    OUTCOMES,
    Period,
    duties_csv,
    monthly_csv,
    months,
    outcome_rows,
    outcomes_csv,
    previous_month,
)
from web import charts
from web.context import Visitor, web
from web.programme import programme_lead

router = APIRouter()

MOST_MONTHS = 24  # a chart and a table row per month: two years at most
PARTS = ("day", "month", "year")
DATES = {"from": "first day", "to": "last day"}
LABELS = {
    "triaged": "Referrals triaged",
    "full_support": "Taken on for full support",
    "investigations_supported": "Investigations given strategic advice",
    "arrests": "Arrests",
    "charged": "Suspects charged",
    "convicted": "Suspects convicted",
    "engagement_rate": "Engaged with the investigation",
    "engagement_linked": "Survivors linked to an active investigation",
    "engagement_engaged": "Of those, engaged at the end",
}
MONTHLY = ("triaged", "full_support", "arrests", "charged", "convicted")
FIGURES = ("outcomes", "by_month", "duties")
# Each CSV download: the figure it needs and how it is written (as the command line does).
CSV = {
    "outcomes": ("outcomes", outcomes_csv),
    "by-month": ("by_month", monthly_csv),
    "duties": ("duties", duties_csv),
}


@dataclass
class Choice:
    """What the form asked for: a period and an organisation, or what is wrong with them."""

    span: Period | None = None
    organisation: str | None = None
    values: dict[str, str] = field(default_factory=dict)
    errors: dict[str, str] = field(default_factory=dict)  # field id -> message
    wrong: set[str] = field(default_factory=set)  # the date parts to mark


def _day(values: dict[str, str], name: str, choice: Choice) -> date | None:
    """One GOV.UK date input's day, or its message (GOV.UK's wording for date errors)."""
    label = DATES[name]
    parts = [values.get(f"{name}-{part}", "") for part in PARTS]
    missing = [part for part, value in zip(PARTS, parts, strict=True) if not value]
    if len(missing) == len(PARTS):
        message = f"Enter the {label} of the report"
    elif missing:
        message = f"The {label} must include a {missing[0]}"
        choice.wrong.update(f"{name}-{part}" for part in missing)
    else:
        try:
            day, month, year = (int(p) for p in parts)
            if not 2000 <= year <= 2100:
                raise ValueError
            return date(year, month, day)
        except ValueError:
            message = f"The {label} must be a real date, like 1 2 2027"
    choice.errors[f"{name}-{missing[0] if missing else 'day'}"] = message
    if not choice.wrong & {f"{name}-{p}" for p in PARTS}:
        choice.wrong.update(f"{name}-{part}" for part in PARTS)
    return None


def _choice(request: Request, today: date, organisations: list[str]) -> Choice:
    params = request.query_params
    names = [f"{n}-{p}" for n in DATES for p in PARTS]
    choice = Choice(values={n: params.get(n, "").strip()[:8] for n in [*names, "organisation"]})
    if not any(n in params for n in names):  # the first visit: last month
        choice.span = previous_month(today)
        for name, day in (("from", choice.span.first), ("to", choice.span.last)):
            choice.values.update({f"{name}-day": str(day.day), f"{name}-month": str(day.month)})
            choice.values[f"{name}-year"] = str(day.year)
    else:
        first, last = _day(choice.values, "from", choice), _day(choice.values, "to", choice)
        if first and last and last < first:
            choice.errors["to-day"] = "The last day must be the same as or after the first day"
            choice.wrong.update(f"to-{part}" for part in PARTS)
        elif first and last and len(months(Period(first, last))) > MOST_MONTHS:
            choice.errors["to-day"] = f"A report can cover {MOST_MONTHS} months at most"
            choice.wrong.update(f"to-{part}" for part in PARTS)
        elif first and last:
            choice.span = Period(first, last)
    organisation = choice.values["organisation"]
    if organisation and organisation not in organisations:
        choice.errors["organisation"] = "Choose an organisation from the list"
        choice.span = None
    choice.organisation = organisation or None
    return choice


def _figures(
    session: Session, me: Visitor, now: datetime, choice: Choice, catalog, wanted=FIGURES
) -> dict:
    """The reports the page (or one CSV) shows, in the person's scope."""
    span, organisation = choice.span, choice.organisation

    def outcomes(part: Period) -> dict:
        return reports.outcomes(session, catalog, part, me.actor, organisation)

    found: dict = {}
    if "outcomes" in wanted:
        found["outcomes"] = outcomes(span)
    if "by_month" in wanted:
        found["by_month"] = [outcomes(month) for month in months(span)]
    if "duties" in wanted:
        found["duties"] = reports.duties(session, catalog, span, now, me.actor, organisation)
    return found


def _columns(outcomes: dict) -> list[dict]:
    """The outcomes table's columns: each organisation, then all (one alone is all)."""
    rows = outcome_rows(outcomes)
    return rows[:1] if len(outcomes["organisations"]) == 1 else rows


def _month_label(report: dict) -> str:
    return date.fromisoformat(report["from"]).strftime("%b %Y")


def _day_words(day: date) -> str:
    return f"{day.day} {day:%B %Y}"


def _charts(figures: dict) -> dict:
    by_month, tags = figures["by_month"], figures["duties"]["tags"]
    return {
        "by_month": charts.bars(
            "Referrals and outcomes by month",
            "Grouped bars, one group per month; the table below it gives the figures.",
            [_month_label(m) for m in by_month],
            [(LABELS[key], [m[key] for m in by_month]) for key in MONTHLY],
        ),
        "tags": charts.bars(
            "Duties done on time, by tag",
            "One bar per tag: the share of duties done on time, of those whose deadline "
            "has passed; the table below it gives the figures.",
            [t["tag"] for t in tags],
            [("Done on time", [t["on_time_rate"] for t in tags])],
            percent=True,
        ),
    }


def _orgs(session: Session, me: Visitor) -> list:
    return reports.organisations(session, me.actor, None)


def _query(choice: Choice) -> str:
    from urllib.parse import urlencode

    return urlencode({k: v for k, v in choice.values.items() if v})


@router.get("/reports")
def reports_page(request: Request) -> Response:
    site = web(request)
    with site.unit() as (session, now):
        me = programme_lead(request, session, now)
        orgs = _orgs(session, me)
        choice = _choice(request, now.astimezone(me.zone).date(), [o.id for o in orgs])
        figures = _figures(session, me, now, choice, site.catalog) if choice.span else None
        return site.page(
            request,
            "reports.html",
            me=me,
            status=400 if choice.errors else 200,
            organisations=orgs,
            choice=choice,
            errors=choice.errors,
            figures=figures,
            charts=_charts(figures) if figures else None,
            rows=_columns(figures["outcomes"]) if figures else [],
            by_month=[{"label": _month_label(m), **m} for m in figures["by_month"]]
            if figures
            else [],
            span_words=f"{_day_words(choice.span.first)} to {_day_words(choice.span.last)}"
            if choice.span
            else "",
            labels=LABELS,
            measures=OUTCOMES,
            monthly=MONTHLY,
            query=_query(choice),
        )


@router.get("/reports/{name}.csv")
def report_csv(request: Request, name: str) -> Response:
    """One table of the page as CSV, counts only; a wrong choice is the 404 page (the page's
    own links always carry a right one)."""
    site = web(request)
    with site.unit() as (session, now):
        me = programme_lead(request, session, now)
        if name not in CSV:
            raise HTTPException(404)
        orgs = _orgs(session, me)
        choice = _choice(request, now.astimezone(me.zone).date(), [o.id for o in orgs])
        if choice.span is None:
            raise HTTPException(404)
        figure, write = CSV[name]
        text = write(_figures(session, me, now, choice, site.catalog, (figure,))[figure])
    span = choice.span
    return Response(
        text,
        media_type="text/csv; charset=utf-8",
        headers={
            "Content-Disposition": f'attachment; filename="{name}-{span.first}-to-{span.last}.csv"'
        },
    )
