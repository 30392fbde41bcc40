"""Where journeys live, the impact preview, atomic install, and the plan as a picture.

Run as a programme lead would: the installed `alongside` command in a subprocess, on a
home of its own (journey language 1.1, rules 10 to 12).
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import SHIPPED, STAFF_YAML
from tests.test_cli_cases import state

ALONGSIDE = str(Path(sys.executable).parent / "alongside")


@pytest.fixture
def lead(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    """`alongside ARGS...` in a fresh home whose journeys folder is the default one."""
    monkeypatch.setenv("ALONGSIDE_HOME", str(tmp_path / "home"))
    monkeypatch.delenv("ALONGSIDE_JOURNEYS_DIR", raising=False)
    monkeypatch.delenv("ALONGSIDE_DATABASE_URL", raising=False)
    monkeypatch.setenv("COLUMNS", "200")
    monkeypatch.chdir(tmp_path)

    def run(*args: str, code: int = 0) -> subprocess.CompletedProcess:
        result = subprocess.run([ALONGSIDE, *args], capture_output=True, text=True, timeout=120)
        assert "Traceback" not in result.stderr, result.stderr
        assert result.returncode == code, result.stdout + result.stderr
        return result

    return run


@pytest.fixture
def programme(lead, tmp_path: Path):
    (tmp_path / "staff.yaml").write_text(STAFF_YAML)
    lead("staff", "import", "staff.yaml")
    for ref, referral in (("KNT-0001", "2027-01-04T09:00"), ("KNT-0002", "2027-01-11T09:00")):
        lead(
            "case", "open", ref, "--journey", "adult-cjs", "--navigator", "nav@example.org",
            "--event", f"referral={referral}", "--now", "2027-01-11T10:00",
        )  # fmt: skip
    return lead


def edited(tmp_path: Path, old: str, new: str) -> Path:
    """A copy of the home's adult-cjs with one line changed, named as its id requires."""
    source = (tmp_path / "home" / "journeys" / "adult-cjs.yaml").read_text()
    assert old in source
    folder = tmp_path / "drafts"
    folder.mkdir(exist_ok=True)
    path = folder / "adult-cjs.yaml"
    path.write_text(source.replace(old, new))
    return path


# --- rule 10: where journeys live ---------------------------------------------------------


def test_a_new_home_gets_its_own_copy_of_the_shipped_journeys(lead, tmp_path: Path) -> None:
    out = lead("journeys", "validate").stdout
    folder = tmp_path / "home" / "journeys"
    shipped = sorted(p.name for p in SHIPPED.glob("*.yaml"))
    assert sorted(p.name for p in folder.glob("*.yaml")) == shipped
    assert out.count(": ok: ") == len(shipped)
    assert all(line.startswith(str(folder)) for line in out.splitlines())


def test_the_current_directory_is_never_searched(lead, tmp_path: Path) -> None:
    (tmp_path / "journeys").mkdir()
    shutil.copy(SHIPPED / "adult-cjs.yaml", tmp_path / "journeys" / "local-only.yaml")
    result = lead("journeys", "show", "local-only", code=1)
    assert result.stderr.startswith("error: unknown journey 'local-only'")


def test_the_setting_names_another_folder(lead, tmp_path: Path, monkeypatch) -> None:
    folder = tmp_path / "elsewhere"
    folder.mkdir()
    shutil.copy(SHIPPED / "child-cjs.yaml", folder)
    monkeypatch.setenv("ALONGSIDE_JOURNEYS_DIR", str(folder))
    assert lead("journeys", "validate").stdout.count(": ok: ") == 1
    assert not (tmp_path / "home" / "journeys").exists()


# --- rule 11: preview and install ---------------------------------------------------------


def test_the_preview_shows_what_the_next_sweep_would_do_and_writes_nothing(
    programme, tmp_path: Path
) -> None:
    url = f"sqlite:///{tmp_path / 'home' / 'alongside.db'}"
    before = state(url)
    draft = edited(tmp_path, "due: 14 days after referral", "due: 21 days after referral")
    at = ("--now", "2027-01-11T11:00")
    impact = json.loads(programme("journeys", "preview", str(draft), *at, "--json").stdout)
    assert state(url) == before
    assert impact["totals"]["open_cases"] == 2 and impact["totals"]["cases_changed"] == 2
    first = next(c for c in impact["cases"] if c["case"] == "KNT-0001")
    moved = {t["title"]: (t["old_due"], t["new_due"]) for t in first["redated"]}
    assert moved["Registered with a GP"] == (
        "2027-01-18T23:59:59+00:00",
        "2027-01-25T23:59:59+00:00",
    )
    assert not first["created"] and not first["cancelled"]
    text = programme("journeys", "preview", str(draft), *at).stdout
    assert "2 of 2 open cases change" in text and "KNT-0002" in text

    programme("journeys", "install", str(draft), "--now", "2027-01-11T11:00")
    swept = json.loads(programme("tick", "--now", "2027-01-11T11:00", "--json").stdout)
    assert swept["redated"] == impact["totals"]["redated"]
    assert swept["created"] == impact["totals"]["created"]
    assert swept["cancelled"] == impact["totals"]["cancelled"]


def test_a_renamed_obligation_previews_as_cancelled_and_created(programme, tmp_path) -> None:
    draft = edited(tmp_path, "id: gp-registration", "id: gp-registered")
    at = ("--now", "2027-01-11T11:00")
    impact = json.loads(programme("journeys", "preview", str(draft), *at, "--json").stdout)
    for case in impact["cases"]:
        assert [t["title"] for t in case["cancelled"]] == ["Registered with a GP"]
        assert [t["task"] for t in case["created"]] == ["gp-registered"]
    assert impact["totals"] == {
        "open_cases": 2, "cases_changed": 2, "created": 2, "redated": 0, "cancelled": 2,
    }  # fmt: skip


def test_install_replaces_the_journey_atomically_and_audits_it(programme, tmp_path: Path) -> None:
    draft = edited(tmp_path, "due: 14 days after referral", "due: 21 days after referral")
    out = programme("journeys", "install", str(draft)).stdout
    installed = tmp_path / "home" / "journeys" / "adult-cjs.yaml"
    assert installed.read_bytes() == draft.read_bytes()
    assert out.startswith("installed adult-cjs v") and "(was v" in out
    leftovers = [p.name for p in installed.parent.iterdir() if p.name.startswith(".")]
    assert leftovers == []
    audit = json.loads(programme("audit", "--json").stdout)
    entry = next(e for e in audit if e["action"] == "journey.install")
    assert entry["detail"]["journey"] == "adult-cjs" and entry["detail"]["previous"]


def test_an_invalid_file_is_neither_previewed_nor_installed(programme, tmp_path: Path) -> None:
    installed = tmp_path / "home" / "journeys" / "adult-cjs.yaml"
    original = installed.read_bytes()
    draft = edited(tmp_path, "due: 14 days after referral", "due: 14 dayz after referral")
    for command in ("preview", "install"):
        result = programme("journeys", command, str(draft), code=1)
        assert result.stderr.startswith(f"{draft}:") and "dayz" in result.stderr
    assert installed.read_bytes() == original


# --- rule 12: pictures --------------------------------------------------------------------


def test_simulate_draws_the_plan_as_a_gantt_chart(lead) -> None:
    out = lead(
        "journeys", "simulate", "adult-cjs", "--event", "referral=2027-01-04",
        "--event", "charge=2027-02-01", "--now", "2027-02-02", "--mermaid",
    ).stdout  # fmt: skip
    lines = out.splitlines()
    assert lines[0] == "gantt" and "  dateFormat YYYY-MM-DD" in lines
    assert "  section First month" in lines and "  section Police investigation" in lines
    assert any(
        line.startswith("  Registered with a GP :milestone, ") and line.endswith("2027-01-18, 0d")
        for line in lines
    )
    tasks = [line for line in lines if ":milestone," in line]
    assert all(line.count(":") == 1 for line in tasks)  # titles cannot break the syntax
