"""The shipped automations, installed by `alongside ops install-automations` on a real API.

The session's test harness runs Prefect's trigger and action services, so the automations
really fire: each notifies through a Custom Webhook block pointed at an HTTP server on
loopback, which records what Prefect posts. The proactive "no completed tick" automation
is installed with a 10 s window (Prefect's minimum) so the test takes seconds.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
from typer.testing import CliRunner

from alongside import ops
from alongside.app import app
from engine.core.errors import UserError
from flows import health
from flows import sweep as flows
from tests.conftest import at
from tests.prefect.conftest import eventually

pytestmark = pytest.mark.usefixtures("prefect_api")


class Hook:
    """An HTTP server on loopback that keeps every JSON body posted to it."""

    def __init__(self) -> None:
        self.posts: list[dict] = []
        hook = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length)
                try:
                    hook.posts.append(json.loads(body))
                except ValueError:
                    hook.posts.append({"raw": body.decode(errors="replace")})
                self.send_response(200)
                self.end_headers()

            def log_message(self, *args: object) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/hook"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def subjects(self) -> list[str]:
        return [str(p.get("subject")) for p in self.posts]


@pytest.fixture
def hook() -> Iterator[Hook]:
    found = Hook()
    found.thread.start()
    try:
        yield found
    finally:
        found.server.shutdown()
        found.server.server_close()


@pytest.fixture
def pager(hook: Hook) -> Iterator[str]:
    """A Custom Webhook notification block named `pager`, and the shipped automations
    removed from the session's server afterwards."""
    from prefect.blocks.notifications import CustomWebhookNotificationBlock
    from prefect.client.orchestration import get_client

    CustomWebhookNotificationBlock(
        name="alongside-test",
        url=hook.url,
        json_data={"subject": "{{subject}}", "body": "{{body}}"},
    ).save("pager", overwrite=True)
    yield "custom-webhook/pager"
    with get_client(sync_client=True) as client:
        for automation in client.read_automations():
            if automation.name.startswith("alongside:"):
                client.delete_automation(automation.id)


def installed(block: str, *extra: str) -> list[str]:
    result = CliRunner().invoke(app, ["ops", "install-automations", "--block", block, *extra])
    assert result.exit_code == 0, result.output
    return result.output.splitlines()


def test_the_shipped_automations_are_prefect_automations() -> None:
    from prefect.events.schemas.automations import AutomationCore

    found = ops.shipped()
    assert set(found) == {
        "no-completed-tick",
        "message-failed",
        "overdue-threshold",
        "crash-silent-runs",
    }
    for data in ops.prepared(found, "00000000-0000-4000-8000-000000000000", None):
        automation = AutomationCore.model_validate(data)
        assert automation.actions and automation.trigger
    proactive = AutomationCore.model_validate(
        ops.prepared({"no-completed-tick": found["no-completed-tick"]}, "0" * 32, 900)[0]
    )
    assert proactive.name == "alongside: no completed tick for 15 minutes"
    assert proactive.trigger.within.total_seconds() == 900
    assert proactive.trigger.posture == "Proactive"
    assert proactive.trigger.expect == {health.TICK_COMPLETED}


def test_install_needs_a_block_the_server_has() -> None:
    with pytest.raises(UserError, match="no block 'custom-webhook/nothing-here'"):
        ops.install("custom-webhook/nothing-here")
    with pytest.raises(UserError, match="give TYPE/NAME"):
        ops.install("pager")


def test_no_completed_tick_fires_when_ticks_stop_and_failures_notify(
    staffed: str, pager: str, hook: Hook
) -> None:
    lines = installed(pager, "--no-tick-within", "10")
    assert len(lines) == 4 and all(line.startswith("installed 'alongside: ") for line in lines)
    assert installed(pager, "--no-tick-within", "10") != lines  # replaced, not duplicated

    from prefect.client.orchestration import get_client

    with get_client(sync_client=True) as client:
        names = sorted(a.name for a in client.read_automations() if a.name.startswith("alon"))
    assert names == [
        "alongside: a message failed",
        "alongside: crash runs whose heartbeat stopped",
        "alongside: no completed tick for 10 s",
        "alongside: overdue over threshold",
    ]

    # A real tick completes; then no tick comes, and the proactive automation notices.
    state = flows.call(flows.tick_flow, {"now": at("2027-01-04T09:10")}, "test")
    assert state.is_completed(), state.message
    eventually(
        lambda: any("no completed tick" in s for s in hook.subjects()),
        timeout=90,
        what="the no-completed-tick notification",
    )

    # The reactive ones: a message failed, an organisation over its threshold.
    health.emit(
        health.events(
            health.assess({"kent": 2}, {"ro": 50}, lambda org: 10, [], 0),
            {"failed": 2},
            ["kent", "ro"],
            "manual-test",
        )
    )
    eventually(
        lambda: any(s == "Alongside: 2 message(s) failed (kent)" for s in hook.subjects()),
        timeout=60,
        what="the message-failed notification",
    )
    eventually(
        lambda: any(s == "Alongside: ro has 50 overdue tasks" for s in hook.subjects()),
        timeout=60,
        what="the overdue notification",
    )


def test_install_refuses_without_a_prefect_api(monkeypatch: pytest.MonkeyPatch) -> None:
    from prefect.settings import PREFECT_API_URL, temporary_settings

    with temporary_settings(updates={PREFECT_API_URL: None}):
        result = CliRunner().invoke(app, ["ops", "install-automations", "--block", "a/b"])
    assert result.exit_code == 1
    assert isinstance(result.exception, UserError) or "PREFECT_API_URL" in result.output


def test_the_automation_files_are_where_the_docs_say() -> None:
    assert Path(__file__).resolve().parents[2] / "ops" / "automations" == ops.AUTOMATIONS
