"""The web app in a real browser: Debian's Chromium driven by Playwright for Python.

One server (uvicorn on loopback, in a thread) and one browser for the whole session; each
test gets a fresh browser context (its own cookies). The flows are a navigator's and a team
lead's real work: sign in from the link in the outbox, complete an overdue task, record a
new trial date and see the plan move, reassign a case, sign out; the same by keyboard
alone; axe-core at WCAG 2.2 AA on every page; every page at 320 px wide and at 200% zoom.

Screenshots for docs/navigators.md and docs/team-leads.md are taken here when
ALONGSIDE_SCREENSHOTS names a folder (`make screenshots`).
"""

from __future__ import annotations

import os
import re
import threading
import time
from collections.abc import Iterator
from email import message_from_bytes
from email.policy import default as default_policy
from pathlib import Path

import pytest

from tests.conftest import SHIPPED, STAFF_YAML
from tests.web.conftest import START, Clock

CHROMIUM = Path("/usr/bin/chromium")
ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
WCAG = ["wcag2a", "wcag2aa", "wcag21a", "wcag21aa", "wcag22a", "wcag22aa"]
NAV, NAV2, LEAD, PROG = (
    "nav@example.org",
    "nav2@example.org",
    "lead@example.org",
    "prog@example.org",
)
SHOTS = os.environ.get("ALONGSIDE_SCREENSHOTS")

pytestmark = pytest.mark.skipif(not CHROMIUM.exists(), reason="needs Debian's chromium")


class Site:
    """The running server: its address and its outbox."""

    def __init__(self, base: str, settings, clock: Clock) -> None:
        self.base = base
        self.settings = settings
        self.clock = clock
        self.given: set[str] = set()  # links handed out already: each works once

    def link(self, email: str) -> str:
        """The newest sign-in link in the outbox for `email` not handed out before.

        Delivery runs just after the answer, so the new message may not be written yet;
        an older link for the same person is in the outbox, used, and must not be taken
        for it (on a loaded machine it was, and the sign-in failed)."""
        for _ in range(50):  # give delivery a moment
            for path in sorted(self.settings.outbox_dir.glob("*.eml"), reverse=True):
                message = message_from_bytes(path.read_bytes(), policy=default_policy)
                if message["To"] == email and "sign-in" in message["Subject"]:
                    body = message.get_body(("plain",)).get_content()
                    link = re.search(r"http://\S+/sign-in/\S+", body).group(0)
                    if link not in self.given:
                        self.given.add(link)
                        return link
                    break  # the newest is used: wait for the new one
            time.sleep(0.1)
        raise AssertionError(f"no new sign-in link for {email}")

    def count(self) -> int:
        return len(list(self.settings.outbox_dir.glob("*.eml")))


@pytest.fixture(scope="session")
def site(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Site]:
    import uvicorn

    from engine import service
    from engine.core.actors import operator
    from engine.settings import Settings
    from engine.store import session_scope
    from notifications.testing import free_port
    from tests.web.conftest import open_case
    from web.app import create_app

    home = tmp_path_factory.mktemp("browser") / "home"
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    settings = Settings(
        home=home, journeys_dir=SHIPPED, transport="file", base_url=base, database_url=None
    )
    with session_scope(settings.url) as session:
        service.import_staff(session, STAFF_YAML, START, operator())
    for n, referral in ((1, "2027-01-01"), (2, "2026-12-16"), (3, "2027-01-01"), (4, "2027-01-01")):
        open_case(settings.url, f"KNT-000{n}", NAV, referral, START)
    open_case(settings.url, "KNT-0005", NAV2, "2027-01-01", START)
    clock = Clock(START)
    app = create_app(settings, clock=clock)
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    while not server.started:
        time.sleep(0.05)
    yield Site(base, settings, clock)
    server.should_exit = True
    thread.join(10)


@pytest.fixture(scope="session")
def browser():
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        chromium = playwright.chromium.launch(
            executable_path=str(CHROMIUM), headless=True, args=ARGS
        )
        yield chromium
        chromium.close()


@pytest.fixture
def page(browser, site):
    """A fresh browser (no cookies) that fails the test on any CSP or script error."""
    context = browser.new_context(base_url=site.base, viewport={"width": 1024, "height": 800})
    tab = context.new_page()
    problems: list[str] = []
    tab.on("console", lambda m: problems.append(m.text) if m.type == "error" else None)
    tab.on("pageerror", lambda e: problems.append(str(e)))
    yield tab
    context.close()
    # a page answered 400 or 404 (a form with an error, a missing page) is no problem
    assert not [p for p in problems if "Failed to load resource" not in p], problems


def shot(page, name: str) -> None:
    if SHOTS:
        Path(SHOTS).mkdir(parents=True, exist_ok=True)
        page.screenshot(path=str(Path(SHOTS) / f"{name}.png"), full_page=True)


def sign_in(page, site: Site, email: str) -> None:
    page.goto("/sign-in")
    page.get_by_label("Work email address").fill(email)
    page.get_by_role("button", name="Email me a sign-in link").click()
    page.get_by_role("heading", name="Check your email").wait_for()
    page.goto(site.link(email))
    page.get_by_role("button", name="Sign in").click()
    page.wait_for_url(re.compile(r"/(work|team|programme)$"))


def task_on(page, ref: str, title: str):
    return page.locator("li.app-task", has_text=f"{ref}: {title}")


def test_a_navigator_and_a_team_lead_do_their_work_with_the_mouse(page, site):
    from playwright.sync_api import expect

    page.goto("/sign-in")
    shot(page, "sign-in")
    sign_in(page, site, NAV)
    expect(page.get_by_role("heading", name="My work")).to_be_visible()
    shot(page, "my-work")
    overdue = task_on(page, "KNT-0001", "Safe accommodation arranged")
    expect(overdue.get_by_text("3 days overdue")).to_be_visible()
    overdue.get_by_text("Complete", exact=False).first.click()
    overdue.get_by_label("Note (optional)").fill("Placed in a refuge")
    shot(page, "complete-task")
    overdue.get_by_role("button", name=re.compile("Mark as done")).click()
    done = page.locator(f"#{overdue.get_attribute('id')}")
    expect(done.get_by_text("Done", exact=True)).to_be_visible()  # in place, no reload
    expect(done.get_by_role("button", name=re.compile("Reopen"))).to_be_visible()

    page.get_by_role("link", name="KNT-0001").first.click()
    expect(page.get_by_role("heading", name="KNT-0001")).to_be_visible()
    page.get_by_label("Event", exact=True).select_option("trial")
    page.get_by_label("When it happened (or will happen)").fill("2027-06-15")
    page.get_by_role("button", name="Record event").click()
    visit = task_on(page, "", "Pre-trial court visit done")
    plan = page.locator("#plan + ul")
    expect(plan.get_by_text("Tue 1 Jun 2027", exact=False).first).to_be_visible()
    page.get_by_label("Event", exact=True).select_option("trial")
    page.get_by_label("When it happened (or will happen)").fill("2027-07-13")
    page.get_by_role("button", name="Record event").click()
    expect(page.locator("#plan + ul").get_by_text("Tue 29 Jun 2027").first).to_be_visible()
    del visit
    shot(page, "case")
    page.get_by_role("button", name="Sign out", exact=True).first.click()
    expect(page.get_by_text("You have signed out")).to_be_visible()
    page.goto("/work")
    expect(page).to_have_url(re.compile(r"/sign-in\?next=/work$"))

    sign_in(page, site, LEAD)
    expect(page.get_by_role("heading", name="Team")).to_be_visible()
    shot(page, "team")
    page.get_by_role("link", name=NAV).click()
    page.get_by_label(re.compile(r"^KNT-0002:")).check()
    page.get_by_label("Give them to").select_option(NAV2)
    page.get_by_label("Reason").fill("Ana is on leave")
    shot(page, "reassign")
    page.get_by_role("button", name="Reassign cases").click()
    expect(page.get_by_text("1 case reassigned")).to_be_visible()
    page.get_by_role("button", name="Sign out", exact=True).first.click()
    expect(page.get_by_text("You have signed out")).to_be_visible()


def upload_journey(page, old: str, new: str) -> None:
    """Choose a changed adult-cjs.yaml in the preview form (the file dialog itself is the
    browser's own)."""
    text = (SHIPPED / "adult-cjs.yaml").read_text().replace(old, new, 1)
    page.locator("#journey-file").set_input_files(
        files=[{"name": "adult-cjs.yaml", "mimeType": "application/yaml", "buffer": text.encode()}]
    )


def tab_to(page, selector: str, most: int = 120) -> None:
    """Press Tab until the element `selector` has the focus, as a keyboard user would."""
    for _ in range(most):
        page.keyboard.press("Tab")
        if page.evaluate(f"document.activeElement.matches({selector!r})"):
            return
    raise AssertionError(f"{selector} cannot be reached with Tab")


def test_the_same_work_with_the_keyboard_alone(page, site):
    from playwright.sync_api import expect

    page.goto("/sign-in")
    tab_to(page, "#email")
    page.keyboard.type(NAV)
    page.keyboard.press("Enter")
    page.get_by_role("heading", name="Check your email").wait_for()
    page.goto(site.link(NAV))
    tab_to(page, "button.govuk-button")
    page.keyboard.press("Enter")
    page.wait_for_url(re.compile("/work$"))
    tid = task_on(page, "KNT-0003", "Safe accommodation arranged").get_attribute("id")
    number = tid.removeprefix("task-")
    tab_to(page, f"#{tid} details:first-of-type summary")
    page.keyboard.press("Enter")
    tab_to(page, f"#note-{number}")
    page.keyboard.type("Placed with family")
    tab_to(page, f"#{tid} form[action$='/done'] button")
    page.keyboard.press("Enter")
    expect(page.locator(f"#{tid}").get_by_text("Done", exact=True)).to_be_visible()

    page.goto("/cases/KNT-0003")
    tab_to(page, "#event-name")
    page.keyboard.type("trial")  # a select takes typed text
    tab_to(page, "#event-value")
    page.keyboard.type("2027-06-15")
    page.keyboard.press("Enter")
    expect(page.locator("#plan + ul").get_by_text("Tue 1 Jun 2027").first).to_be_visible()
    tab_to(page, "#event-name")
    page.keyboard.type("trial")
    tab_to(page, "#event-value")
    page.keyboard.type("2027-07-13")
    page.keyboard.press("Enter")
    expect(page.locator("#plan + ul").get_by_text("Tue 29 Jun 2027").first).to_be_visible()
    tab_to(page, "button[data-sign-out]")
    page.keyboard.press("Enter")
    expect(page.get_by_text("You have signed out")).to_be_visible()

    page.goto("/sign-in")
    tab_to(page, "#email")
    page.keyboard.type(LEAD)
    page.keyboard.press("Enter")
    page.get_by_role("heading", name="Check your email").wait_for()
    page.goto(site.link(LEAD))
    tab_to(page, "button.govuk-button")
    page.keyboard.press("Enter")
    page.wait_for_url(re.compile("/team$"))
    tab_to(page, f"a[href='/team/{NAV}']")
    page.keyboard.press("Enter")
    page.wait_for_url(re.compile(f"/team/{NAV}$"))
    tab_to(page, "input[value='KNT-0004']")
    page.keyboard.press("Space")
    tab_to(page, "#navigator")
    page.keyboard.type(NAV2)
    tab_to(page, "#reason")
    page.keyboard.type("Covering a leave")
    tab_to(page, "form[action$='/reassign'] button")
    page.keyboard.press("Enter")
    expect(page.get_by_text("1 case reassigned")).to_be_visible()
    tab_to(page, "button[data-sign-out]")
    page.keyboard.press("Enter")
    expect(page.get_by_text("You have signed out")).to_be_visible()


def every_page(page, site) -> Iterator[str]:
    """Visit every kind of page in turn, yielding its name once it is showing."""
    page.goto("/sign-in")
    yield "sign-in"
    page.get_by_label("Work email address").fill("not an address")
    page.get_by_role("button", name="Email me a sign-in link").click()
    yield "sign-in with an error"
    page.goto("/sign-in/not-a-real-token")
    yield "confirm"
    page.get_by_role("button", name="Sign in").click()
    yield "link expired"
    sign_in(page, site, PROG)
    yield "programme"
    upload_journey(page, "category: accommodation", "category: lodging")
    page.get_by_role("button", name="Preview changes").click()
    yield "programme preview with an error"
    upload_journey(page, "due: 24 hours after referral ", "due: 12 hours after referral ")
    page.get_by_role("button", name="Preview changes").click()
    yield "programme preview"
    page.goto("/reports")
    yield "reports"
    page.get_by_role("group", name="First day").get_by_label("Day").fill("31")
    page.get_by_role("group", name="First day").get_by_label("Month").fill("2")
    page.get_by_role("button", name="Show report").click()
    yield "reports with an error"
    page.goto("/team")
    yield "team"
    page.goto(f"/team/{NAV}")
    yield "navigator"
    page.goto("/work")
    yield "my work"
    page.goto("/cases/KNT-0001")
    yield "case"
    page.get_by_label("Event", exact=True).select_option("trial")
    page.get_by_role("button", name="Record event").click()
    yield "case with an error"
    page.goto("/no-such-page")
    yield "not found"
    page.goto("/work")
    menu = page.locator(".govuk-service-navigation__toggle")
    if menu.is_visible():  # narrow screens fold the menu away
        menu.click()
    page.get_by_role("button", name="Sign out", exact=True).first.click()
    yield "signed out"


def test_every_page_has_no_axe_violations_at_wcag_22_aa(page, site):
    from axe_playwright_python.sync_playwright import Axe

    axe = Axe()
    seen = []
    for name in every_page(page, site):
        results = axe.run(page, options={"runOnly": {"type": "tag", "values": WCAG}})
        assert results.violations_count == 0, f"{name}:\n{results.generate_report()}"
        seen.append(name)
    assert len(seen) == 16


def test_every_page_works_at_320_pixels_wide(browser, site):
    context = browser.new_context(base_url=site.base, viewport={"width": 320, "height": 640})
    narrow = context.new_page()
    try:
        for name in every_page(narrow, site):
            width = narrow.evaluate("document.documentElement.scrollWidth")
            assert width <= 320, f"{name} scrolls sideways at 320 px ({width} px wide)"
        shot(narrow, "my-work-320")
    finally:
        context.close()


OFF_SIDE = """[...document.querySelectorAll("a, button, input, select, textarea, summary")]
  .filter((e) => e.getClientRects().length && e.getBoundingClientRect().width > 1)
  .filter((e) => e.getBoundingClientRect().left < 0 || e.getBoundingClientRect().right > innerWidth)
  .map((e) => e.outerHTML.slice(0, 100))"""


def test_every_page_works_at_200_percent_zoom(browser, site):
    """200% zoom on a 1280 px screen is a 640 CSS px wide window at two device pixels to
    the CSS pixel: no page scrolls sideways and every control is inside the window."""
    context = browser.new_context(
        base_url=site.base, viewport={"width": 640, "height": 400}, device_scale_factor=2
    )
    zoomed = context.new_page()
    try:
        seen = []
        for name in every_page(zoomed, site):
            assert zoomed.evaluate("devicePixelRatio") == 2
            width = zoomed.evaluate("document.documentElement.scrollWidth")
            assert width <= 640, f"{name} scrolls sideways at 200% zoom ({width} px wide)"
            assert zoomed.evaluate(OFF_SIDE) == [], f"{name}: controls outside the window"
            seen.append(name)
        assert len(seen) == 16  # as many as the axe test visits
    finally:
        context.close()


def test_focus_is_visible(page, site):
    page.goto("/sign-in")
    tab_to(page, "#email")
    outline = page.evaluate(
        "(() => { const s = getComputedStyle(document.activeElement);"
        " return s.outlineStyle + ' ' + s.boxShadow; })()"
    )
    assert "none none" not in outline


def test_reports_preview_and_diagrams_by_keyboard_alone(page, site):
    from playwright.sync_api import expect

    sign_in(page, site, PROG)
    page.goto("/reports")
    for field, value in (("#from-day", "1"), ("#from-month", "12"), ("#from-year", "2026"),
                         ("#to-day", "31"), ("#to-month", "1"), ("#to-year", "2027")):  # fmt: skip
        tab_to(page, field)
        page.keyboard.press("Control+a")
        page.keyboard.type(value)
    page.keyboard.press("Enter")
    expect(
        page.get_by_role("heading", name="Outcomes, 1 December 2026 to 31 January 2027")
    ).to_be_visible()
    chart = page.get_by_role("img", name="Referrals and outcomes by month")
    expect(chart).to_be_visible()
    table = page.locator("#by-month-table")
    expect(table.get_by_role("rowheader", name="Dec 2026")).to_be_visible()
    expect(table.get_by_role("rowheader", name="Jan 2027")).to_be_visible()
    shot(page, "reports")
    tab_to(page, "a[href^='/reports/outcomes.csv']")
    with page.expect_download() as download:
        page.keyboard.press("Enter")
    text = Path(download.value.path()).read_text()
    assert text.startswith("organisation,from,to,triaged,") and "KNT-" not in text

    tab_to(page, "#from-day")
    page.keyboard.press("Control+a")
    page.keyboard.type("32")
    page.keyboard.press("Enter")
    expect(page.locator("#from-error")).to_contain_text("The first day must be a real date")
    expect(page.locator(".govuk-error-summary")).to_be_focused()  # GOV.UK Frontend moves focus
    # The programme page's journey preview and diagrams, signed in once (the sign-in links
    # a person may ask for are rate-limited, and the programme lead signs in most).
    preview_by_keyboard(page)
    diagram_drawn(page)


def test_unsaved_text_survives_a_time_out_and_signing_in_again(browser, site):
    """Text typed and not saved when the session times out is there again after signing in,
    in another browser (as a link opened from an email opens a new tab): the server kept
    it for its person. Both clocks move by hand: the server's and the page's."""
    from playwright.sync_api import expect
    from sqlmodel import select

    from engine.store import WebDraft, session_scope

    def fresh():
        return browser.new_context(base_url=site.base, viewport={"width": 1024, "height": 800})

    first, second = fresh(), fresh()
    try:
        tab = first.new_page()
        tab.clock.install()
        sign_in(tab, site, NAV)
        item = tab.locator("li.app-task").first
        tid = item.get_attribute("id")
        item.locator("summary", has_text="Waive").click()
        item.get_by_label("Why it is not needed").fill("Moved in with family; nothing to do")
        site.clock.advance(minutes=31)  # past the 30-minute idle limit, on both clocks
        tab.clock.fast_forward("31:00")
        tab.wait_for_url(re.compile(r"/sign-in\?signed_out=timeout&next=%2Fwork$"))
        tab.goto("/work")
        expect(tab).to_have_url(re.compile(r"/sign-in\?next=/work$"))  # signed out

        again = second.new_page()
        sign_in(again, site, NAV)
        reason = again.locator(f"#{tid} textarea[name=reason]")
        expect(reason).to_have_value("Moved in with family; nothing to do")
        expect(reason).to_be_visible()  # its Waive section open to show it
        with session_scope(site.settings.url) as session:  # given back once, not kept
            assert session.exec(select(WebDraft)).all() == []
    finally:
        first.close()
        second.close()
        site.clock.advance(minutes=-31)


def preview_by_keyboard(page) -> None:
    """The programme page's journey preview, signed in as a programme lead."""
    from playwright.sync_api import expect

    page.goto("/programme")
    upload_journey(page, "due: 24 hours after referral ", "due: 12 hours after referral ")
    tab_to(page, "form[action='/programme/preview'] button")
    page.keyboard.press("Enter")
    expect(page.locator("#preview-result")).to_contain_text("of 5 open cases would change")
    upload_journey(page, "category: accommodation", "category: lodging")
    tab_to(page, "form[action='/programme/preview'] button")
    page.keyboard.press("Enter")
    expect(page.locator("#journey-file-error")).to_contain_text("has 1 problem")
    expect(page.locator("#journey-file-problems")).to_contain_text("lodging")


def diagram_drawn(page) -> None:
    """Mermaid draws each journey's diagram in a frame of its own page (the one page that
    allows inline styles); the programme page around it keeps the strict policy, and no
    console error or CSP report appears (the `page` fixture fails the test on one)."""
    from axe_playwright_python.sync_playwright import Axe
    from playwright.sync_api import expect

    page.goto("/programme")
    tab_to(page, "details:has(iframe) summary")
    page.keyboard.press("Enter")
    frame = page.frame_locator("iframe.app-diagram").first
    expect(frame.locator("svg[role=img]")).to_be_visible()
    expect(frame.locator("svg").get_by_text("Referral", exact=False).first).to_be_visible()
    assert "unsafe-inline" not in page.evaluate(
        "fetch('/programme').then(r => r.headers.get('content-security-policy'))"
    )
    results = Axe().run(page, options={"runOnly": {"type": "tag", "values": WCAG}})
    assert results.violations_count == 0, results.generate_report()
    shot(page, "programme-diagram")
