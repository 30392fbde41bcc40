"""The README's commands work as written, on the shipped staff.example.yaml; the operations
guide names every setting a worker needs."""

from __future__ import annotations

import re
import shlex
from pathlib import Path

import pytest

from alongside.app import main
from engine.settings import Settings
from tests.conftest import REPO

README = (REPO / "README.md").read_text()
OPERATIONS = (REPO / "docs" / "operations.md").read_text()


def readme_commands() -> list[list[str]]:
    """The README's `alongside ...` lines (its "Using it" block) on cases and investigations."""
    block = README.split("## Using it", 1)[1].split("```sh", 1)[1].split("```", 1)[0]
    # A comment starts at " #"; `arrest#2` is an occurrence, not a comment.
    lines = [re.split(r"\s#", line, maxsplit=1)[0].strip() for line in block.splitlines()]
    wanted = (
        "alongside staff import",
        "alongside case ",
        "alongside task list",
        "alongside investigation",
    )
    return [shlex.split(line)[1:] for line in lines if line.startswith(wanted)]


def test_the_readme_commands_run_on_the_shipped_staff_example(
    home: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.chdir(REPO)
    commands = readme_commands()
    assert commands[0] == ["staff", "import", "staff.example.yaml"]
    assert len(commands) >= 4
    for argv in commands:
        try:
            main(argv)
        except SystemExit as exited:
            assert exited.code in (0, None), (argv, capsys.readouterr())
    out = capsys.readouterr().out
    assert "imported 2 organisations, 6 staff" in out and "opened KNT-0042" in out


def test_the_operations_guide_names_every_setting_and_the_automations() -> None:
    for name in Settings.model_fields:
        if name in ("home",):
            continue
        assert f"ALONGSIDE_{name.upper()}" in OPERATIONS, name
    for needed in (
        "ALONGSIDE_HOME",
        "ALONGSIDE_PROJECT_DIR",
        "PREFECT_UI_API_URL",
        "alongside ops install-automations",
        "staff.example.yaml",
    ):
        assert needed in OPERATIONS, needed
    for automation in (REPO / "ops" / "automations").glob("*.yaml"):
        title = re.search(r'^name: "(.*)"', automation.read_text(), re.M).group(1)
        assert title in OPERATIONS, title
