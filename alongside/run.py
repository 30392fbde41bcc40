"""`alongside run` and `alongside demo`: the commands behind the embedded default.

Only typer is imported here at module level: Prefect must not be imported before
`configure_prefect` has set its environment, and the other commands should not pay for
loading it.
"""

from __future__ import annotations

from datetime import date, timedelta
from pathlib import Path
from typing import Annotated

import typer

from alongside.context import current


def _say(line: str) -> None:
    """One line to stdout and to the log file (`configure_logging` routes `alongside.*`)."""
    import logging

    typer.echo(line)  # click flushes, so a supervisor or a test sees each line at once
    logging.getLogger("alongside.run").info(line)


def _where(settings) -> list[str]:
    """Where the database, the outbox and the logs are, for the start-up banner."""
    from sqlalchemy.engine import make_url

    from flows.settings import log_file

    database = make_url(settings.url).render_as_string(hide_password=True)
    if settings.transport == "file":
        outbox = f"{settings.outbox_dir}/ (file transport: one .eml per message)"
    else:
        outbox = f"SMTP {settings.smtp_host}:{settings.smtp_port} ({settings.smtp_tls})"
    return [
        f"  database  {database}",
        f"  outbox    {outbox}",
        f"  logs      {log_file(settings.home)}",
    ]


def run(
    ctx: typer.Context,
    prefect_yaml: Annotated[
        Path | None,
        typer.Option(
            "--prefect-yaml",
            help="The schedules to run (default: the project's prefect.yaml).",
            dir_okay=False,
        ),
    ] = None,
    catch_up: Annotated[
        bool,
        typer.Option(
            "--catch-up/--no-catch-up",
            help="Run interval schedules (the tick) once at start-up.",
        ),
    ] = True,
) -> None:
    """Run the engine: the flows on prefect.yaml's schedules, in this process, until stopped.

    Runs go through Prefect's ephemeral API, or the server PREFECT_API_URL names (then
    they show in its UI). Ctrl-C or SIGTERM lets the running flow finish, then stops.
    """
    import asyncio

    from flows.settings import configure_logging, configure_prefect

    settings = current(ctx).settings
    prefect_home = configure_prefect(settings.home)
    import prefect  # noqa: F401  (after configure_prefect: Prefect reads settings on import)

    from flows import runner, schedules

    path = (prefect_yaml or schedules.PROJECT_YAML).resolve()
    deployments = schedules.read_deployments(path)
    configure_logging(settings.home)
    _say(f"alongside run: the flows on the schedules in {path}")
    for line in _where(settings):
        _say(line)
    api = runner.start_api(_say)
    if api.startswith("the ephemeral API"):
        api = f"{api}; run history in {prefect_home}"
    _say(f"  prefect   {api}")
    engine = runner.Runner(deployments, path.parent, _say, settings)
    _say("Ctrl-C or SIGTERM stops after the running flow finishes.")
    asyncio.run(engine.serve(catch_up))


# Who the demo's closing lines offer a sign-in link for.
DEMO_PEOPLE = [
    ("navigator", "amira@example.org"),
    ("team lead", "kent.lead@example.org"),
    ("programme lead", "programme.lead@example.org"),
]


def demo(
    ctx: typer.Context,
    days: Annotated[
        int, typer.Option("--days", min=1, max=730, help="How many days to simulate.")
    ] = 120,
    seed: Annotated[int, typer.Option("--seed", help="Seed for the simulated people.")] = 7,
    start: Annotated[
        str | None,
        typer.Option("--start", help="First simulated day, YYYY-MM-DD (default: DAYS days ago)."),
    ] = None,
) -> None:
    """Build a demo programme in a fresh home and run the flows over simulated months.

    Four organisations (one in Romania), their staff, 30 pseudonymous cases on the four
    shipped journeys; a tick a day through Prefect and digests each weekday; messages as
    .eml files in the outbox. A home the demo made is reset; any other home holding staff
    or cases is refused.
    """
    import time

    from engine.catalog import seed as seed_journeys
    from engine.core.errors import UserError
    from engine.files import private_dir
    from engine.settings import SHIPPED_JOURNEYS
    from flows.demo import simulation, summary
    from flows.settings import configure_logging, configure_prefect

    began = time.perf_counter()
    try:
        first = date.fromisoformat(start) if start else date.today() - timedelta(days=days)
    except ValueError:
        raise UserError(f"--start '{start}' is not a date (YYYY-MM-DD)") from None
    # The demo's story is written for the shipped journeys, and its addresses are not
    # real: whatever this machine is configured for, it uses both and the file transport.
    configured = current(ctx).settings
    home = configured.home
    note = simulation.prepare_home(home, configured.url)
    settings = type(configured)(home=home, journeys_dir=home / "journeys", transport="file")
    seed_journeys(settings.journeys, SHIPPED_JOURNEYS)
    if note:
        _say(note)
    private_dir(home)
    (home / simulation.MARKER).write_text(
        "made by `alongside demo`; running it again resets this home\n"
    )

    catalog = settings.catalog
    journeys = [catalog.resolve(str(path)) for path in catalog.files()]
    _say(f"alongside demo: {days} days from {first:%a %d %b %Y}, in {home}")
    _say("  journeys  " + ", ".join(f"{j.journey} v{j.version}" for j in journeys))
    prefect_home = configure_prefect(home, PREFECT_LOGGING_HANDLERS_CONSOLE_LEVEL="WARNING")
    from prefect.settings import (
        PREFECT_API_URL,
        PREFECT_FLOWS_HEARTBEAT_FREQUENCY,
        temporary_settings,
    )

    from flows import runner
    from flows.sweep import FLOWS, call, digest_steps, using

    log = configure_logging(home)
    ephemeral = not PREFECT_API_URL.value()
    api = runner.start_api(_say)
    _say(f"  prefect   {api}")
    _say("  each day: digest 08:00 (weekdays), tick 09:00, people at 13:00 (London)")

    def tick(now) -> bool:
        return call(FLOWS["tick"], {"now": now}, "demo").is_completed()

    # Heartbeats tell a server a run's process is alive; a demo's runs last a fraction of a
    # second, and stopping the heartbeat thread costs ~1 s a run.
    heartbeat_off = temporary_settings(updates={PREFECT_FLOWS_HEARTBEAT_FREQUENCY: None})
    with heartbeat_off, using(settings):
        outcome = simulation.simulate(
            settings.url, catalog, first, days, seed, tick, digest_steps, _say
        )
    runner.settle()
    outcome = summary.summarise(settings.url, outcome, settings.outbox_dir)
    outcome.seconds = time.perf_counter() - began
    for line in summary.report_lines(outcome, home, log, prefect_home if ephemeral else None):
        _say(line)
    _say("")
    _say("Open the demo in a browser: `alongside serve`, then one of these sign-in links")
    _say("(each works once, for 15 minutes; the emails are in the outbox too):")
    from engine.clock import utcnow
    from web.signin import links_for

    links = links_for(settings, [email for _, email in DEMO_PEOPLE], utcnow())
    for (role, _), link in zip(DEMO_PEOPLE, links, strict=True):
        _say(f"  {role:15} {link}")
    if outcome.failed_runs:
        raise typer.Exit(1)
