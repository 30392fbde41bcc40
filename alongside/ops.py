"""`alongside ops`: what an operator installs on a Prefect server.

`install-automations` reads the automations shipped in `ops/automations/*.yaml` (Prefect's
own automation format, as `prefect automation create --from-file` reads it), points each
one's notification at the Prefect block the operator names, and creates them through
Prefect's API on the server PREFECT_API_URL names. Installing again replaces them (matched
by name), so it is safe to run after every upgrade.

Prefect is imported inside the command only: other commands should not pay for it.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import typer
import yaml

from engine.core.errors import UserError

AUTOMATIONS = Path(__file__).resolve().parent.parent / "ops" / "automations"
BLOCK_MARKER = "OPERATOR_BLOCK"  # the placeholder the shipped files carry for the block
NO_TICK = "no-completed-tick"

app = typer.Typer(no_args_is_help=True, help="Operations: Prefect automations.")


def shipped(directory: Path = AUTOMATIONS) -> dict[str, dict[str, Any]]:
    """The shipped automations by file stem, as mappings."""
    found = {}
    for path in sorted(directory.glob("*.yaml")):
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
        if not isinstance(data, dict) or "name" not in data:
            raise UserError(f"{path}: not an automation (no name)")
        found[path.stem] = data
    return found


def prepared(
    automations: dict[str, dict[str, Any]], block_id: str, no_tick_within: float | None
) -> list[dict[str, Any]]:
    """The automations with the operator's block in every notification, and the window."""
    result = []
    for stem, data in automations.items():
        data = {**data, "trigger": dict(data["trigger"])}
        data["actions"] = [
            {**a, "block_document_id": block_id}
            if a.get("block_document_id") == BLOCK_MARKER
            else a
            for a in data.get("actions", [])
        ]
        if stem == NO_TICK and no_tick_within is not None:
            data["trigger"]["within"] = no_tick_within
            minutes = no_tick_within / 60
            span = f"{minutes:g} minutes" if no_tick_within % 60 == 0 else f"{no_tick_within:g} s"
            data["name"] = data["name"].replace("1 hour", span)
        result.append(data)
    return result


def _block_id(client: Any, block: str) -> str:
    """The id of the block `TYPE/NAME` (as `prefect block ls` shows it)."""
    from prefect.exceptions import ObjectNotFound

    slug, _, name = block.partition("/")
    if not slug or not name:
        raise UserError(f"--block '{block}': give TYPE/NAME, e.g. slack-webhook/ops-alerts")
    try:
        document = client.read_block_document_by_name(name, block_type_slug=slug)
    except ObjectNotFound:
        raise UserError(
            f"no block '{block}' on the Prefect server: create it first "
            "(UI: Blocks, or `prefect block create`)"
        ) from None
    return str(document.id)


def install(block: str, no_tick_within: float | None = None) -> list[tuple[str, str]]:
    """Create (or replace) the shipped automations on the current Prefect API."""
    from prefect.client.orchestration import get_client
    from prefect.events.schemas.automations import AutomationCore
    from prefect.settings import PREFECT_API_URL

    if not PREFECT_API_URL.value():
        raise UserError("set PREFECT_API_URL to the Prefect server's API (http://HOST:4200/api)")
    installed = []
    with get_client(sync_client=True) as client:
        problem = client.api_healthcheck()
        if problem is not None:
            raise UserError(f"cannot reach the Prefect API at {client.api_url}: {problem}")
        block_id = _block_id(client, block)
        for data in prepared(shipped(), block_id, no_tick_within):
            automation = AutomationCore.model_validate(data)
            for old in client.read_automations_by_name(automation.name):
                client.delete_automation(old.id)
            installed.append((automation.name, str(client.create_automation(automation))))
    return installed


@app.command("install-automations")
def install_automations(
    ctx: typer.Context,
    block: Annotated[
        str,
        typer.Option(
            "--block",
            help="The Prefect notification block every automation notifies, as TYPE/NAME "
            "(e.g. slack-webhook/ops-alerts, email/ops, custom-webhook/pager).",
        ),
    ],
    no_tick_within: Annotated[
        float | None,
        typer.Option(
            "--no-tick-within",
            min=10,
            help="Seconds without a completed tick before the proactive automation fires "
            "(default 3600; Prefect's minimum is 10).",
        ),
    ] = None,
) -> None:
    """Install the shipped Prefect automations on the server PREFECT_API_URL names.

    "No completed tick for 1 hour", "a message failed", "overdue over threshold", each
    notifying through --block, and "crash runs whose heartbeat stopped" (which frees a
    stuck run's concurrency slot). Running it again replaces them.
    """
    for name, automation_id in install(block, no_tick_within):
        typer.echo(f"installed '{name}' ({automation_id})")
