"""`alongside journeys validate|schema|simulate|show`, run as a programme lead would run them.

The main paths run the real installed command in a subprocess, so exit codes, stdout/stderr
and the "never a traceback" promise are tested end to end; the many one-line-error cases
run the same entry point (`engine.cli.main`) in-process, to keep the suite fast.
"""

from __future__ import annotations

import json
import re
import subprocess
import sys
from datetime import datetime
from pathlib import Path

import pytest

from alongside.app import main
from engine.catalog import load_journey
from tests.conftest import SHIPPED_IDS

ALONGSIDE = str(Path(sys.executable).parent / "alongside")
REPO = Path(__file__).resolve().parent.parent
SHIPPED = REPO / "journeys"
FIXTURES = Path(__file__).resolve().parent / "journeys"
MINIMAL = FIXTURES / "minimal.yaml"
BROKEN = FIXTURES / "broken.yaml"
PROBLEM_LINE = re.compile(r"^(?P<file>.+):(?P<line>\d+):(?P<col>\d+): (?P<message>\S.*)$")


@pytest.fixture
def env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """An empty working directory and home, with the shipped journeys."""
    monkeypatch.setenv("ALONGSIDE_HOME", str(tmp_path / "home"))
    monkeypatch.setenv("ALONGSIDE_JOURNEYS_DIR", str(SHIPPED))
    monkeypatch.setenv("COLUMNS", "200")  # rich tables: no wrapping of the cells we look for
    monkeypatch.delenv("ALONGSIDE_DEBUG", raising=False)
    monkeypatch.chdir(tmp_path)
    return tmp_path


def _checked(result: subprocess.CompletedProcess, code: int | None):
    for stream in (result.stdout, result.stderr):
        assert "Traceback" not in stream and "internal error" not in stream, stream
    if code is not None:
        assert result.returncode == code, result.stdout + result.stderr
    return result


@pytest.fixture
def cli(env: Path):
    """Run the installed `alongside ARGS...` in a subprocess."""

    def run(*args: str, code: int | None = 0) -> subprocess.CompletedProcess:
        result = subprocess.run(
            [ALONGSIDE, *args], capture_output=True, text=True, timeout=60, cwd=env
        )
        return _checked(result, code)

    return run


@pytest.fixture
def alongside(env: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture):
    """Run the same entry point in-process: fast, for the many error cases."""

    def run(*args: str, code: int | None = 0) -> subprocess.CompletedProcess:
        monkeypatch.setattr(sys, "argv", ["alongside", *args])
        capsys.readouterr()
        with pytest.raises(SystemExit) as exit_info:
            main()
        captured = capsys.readouterr()
        status = exit_info.value.code or 0
        result = subprocess.CompletedProcess(args, status, captured.out, captured.err)
        return _checked(result, code)

    return run


def one_line_error(result: subprocess.CompletedProcess) -> str:
    """The single `error: ...` line a bad command prints on stderr."""
    assert result.returncode == 1
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith("error: ")
    return lines[0]


# --- validate ------------------------------------------------------------------------------


def test_validate_passes_on_the_shipped_journeys(cli) -> None:
    result = cli("journeys", "validate")
    lines = result.stdout.strip().splitlines()
    assert len(lines) == len(list(SHIPPED.glob("*.yaml"))) >= 4
    for line in lines:
        match = re.fullmatch(
            r"(?P<path>.+\.yaml): ok: (?P<id>[a-z0-9-]+) v[0-9a-f]{12}, "
            r"\d+ stages, \d+ obligations",
            line,
        )
        assert match, line
        assert Path(match["path"]).stem == match["id"]
    assert {Path(line.split(":")[0]).stem for line in lines} >= set(SHIPPED_IDS)
    assert result.stderr == ""


def test_validate_named_files_prints_one_line_each(cli) -> None:
    result = cli("journeys", "validate", str(MINIMAL), str(SHIPPED / "adult-cjs.yaml"))
    lines = result.stdout.strip().splitlines()
    assert len(lines) == 2
    version = load_journey(MINIMAL).version
    assert lines[0] == f"{MINIMAL}: ok: minimal v{version}, 2 stages, 5 obligations"
    assert lines[1].startswith(f"{SHIPPED / 'adult-cjs.yaml'}: ok: adult-cjs v")


def test_validate_reports_every_problem_as_file_line_col(cli) -> None:
    result = cli("journeys", "validate", str(BROKEN), code=1)
    lines = result.stdout.strip().splitlines()
    assert [PROBLEM_LINE.match(line).group("file", "line", "col") for line in lines] == [
        (str(BROKEN), "5", "11"),
        (str(BROKEN), "14", "19"),
        (str(BROKEN), "16", "9"),
        (str(BROKEN), "20", "16"),
    ]
    assert "unknown time zone 'Europe/Lundun'" in lines[0]
    assert "'housing' is not allowed" in lines[1]
    assert lines[2] == f"{BROKEN}:16:9: duplicate key 'due' (first at line 15)"
    assert "bad duration '1 fortnight'" in lines[3]


def test_validate_mixed_files_reports_both_and_fails(alongside) -> None:
    result = alongside("journeys", "validate", str(MINIMAL), str(BROKEN), code=1)
    lines = result.stdout.strip().splitlines()
    assert lines[0].startswith(f"{MINIMAL}: ok: minimal v")
    assert all(PROBLEM_LINE.match(line)["file"] == str(BROKEN) for line in lines[1:])
    assert len(lines) == 5


def _bomb() -> str:
    lines = ['a: &a ["lol","lol","lol","lol","lol","lol","lol","lol","lol"]']
    for previous, name in zip("abcdefgh", "bcdefghi", strict=True):
        lines.append(f"{name}: &{name} [" + ", ".join([f"*{previous}"] * 9) + "]")
    return "\n".join(lines) + "\n"


BAD_FILES = [
    pytest.param(b"", "empty file", id="empty"),
    pytest.param(bytes(range(256)) * 8, "", id="binary-garbage"),
    pytest.param(b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR", "", id="png"),
    pytest.param("journey: caf\xe9\n".encode("latin-1"), "not UTF-8", id="latin-1"),
    pytest.param(b"- just\n- a list\n", "expected a journey mapping", id="list"),
    pytest.param(b"just a sentence\n", "expected a journey mapping", id="scalar"),
    pytest.param(b"journey: [oops\n", "not valid YAML", id="not-yaml"),
    pytest.param(b"a: !!python/object/apply:os.system [ls]\n", "unsupported tag", id="tag"),
    pytest.param(_bomb().encode(), "too large", id="billion-laughs"),
    pytest.param(b"a: " + b"[" * 5000 + b"]" * 5000, "nested", id="deep"),
]


@pytest.mark.parametrize(("content", "fragment"), BAD_FILES)
def test_validate_never_tracebacks_on_bad_files(
    alongside, tmp_path: Path, content: bytes, fragment: str
) -> None:
    path = tmp_path / "bad.yaml"
    path.write_bytes(content)
    result = alongside("journeys", "validate", str(path), code=1)
    lines = result.stdout.strip().splitlines()
    assert lines, result.stderr
    for line in lines:
        match = PROBLEM_LINE.match(line)
        assert match and match["file"] == str(path), line
    assert fragment in result.stdout


def test_validate_all_kinds_of_bad_file_at_once_in_the_real_command(cli, tmp_path: Path) -> None:
    paths = []
    for i, param in enumerate(BAD_FILES):
        path = tmp_path / f"bad-{i}.yaml"
        path.write_bytes(param.values[0])
        paths.append(str(path))
    result = cli("journeys", "validate", *paths, str(MINIMAL), code=1)
    lines = result.stdout.strip().splitlines()
    assert lines[-1].startswith(f"{MINIMAL}: ok: minimal v")
    assert {PROBLEM_LINE.match(line)["file"] for line in lines[:-1]} == set(paths)
    assert result.stderr == ""


def test_validate_a_directory_or_a_missing_path(cli, tmp_path: Path) -> None:
    folder = tmp_path / "folder"
    folder.mkdir()
    missing = tmp_path / "missing.yaml"
    result = cli("journeys", "validate", str(folder), str(missing), code=1)
    assert result.stdout.strip().splitlines() == [
        f"{folder}:1:1: cannot read file: Is a directory",
        f"{missing}:1:1: cannot read file: No such file or directory",
    ]


def test_validate_with_no_journeys_at_all(cli, tmp_path: Path, monkeypatch) -> None:
    empty = tmp_path / "no-journeys"
    empty.mkdir()
    monkeypatch.setenv("ALONGSIDE_JOURNEYS_DIR", str(empty))
    assert "no journey files" in one_line_error(cli("journeys", "validate", code=1))


# --- schema --------------------------------------------------------------------------------


def test_schema_is_the_committed_file(cli) -> None:
    committed = SHIPPED / "journey.schema.json"
    result = cli("journeys", "schema")
    assert result.stdout == committed.read_text(encoding="utf-8"), (
        "journeys/journey.schema.json is stale: "
        "run `alongside journeys schema > journeys/journey.schema.json`"
    )
    schema = json.loads(result.stdout)
    assert "Obligation" in schema["$defs"]


# --- simulate --------------------------------------------------------------------------------


def simulate_json(cli, journey: str, *args: str) -> list[dict]:
    result = cli("journeys", "simulate", journey, *args, "--json")
    assert result.stderr == ""
    return json.loads(result.stdout)


def test_simulate_json_shape_and_worked_example(cli) -> None:
    rows = simulate_json(
        cli, "adult-cjs", "--event", "referral=2026-12-24", "--now", "2026-12-24T12:00"
    )
    assert rows
    for row in rows:
        assert {"obligation", "stage", "title", "category", "occurrence", "due"} <= set(row)
        due = datetime.fromisoformat(row["due"])
        assert due.utcoffset() is not None  # ISO 8601 with a UTC offset
        assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d[+-]\d\d:\d\d", row["due"])
        assert row["occurrence"] >= 1
    dues = [datetime.fromisoformat(r["due"]) for r in rows]
    assert dues == sorted(dues)
    # every obligation the journey makes due "2 working days after referral"
    journey = load_journey(SHIPPED / "adult-cjs.yaml")
    two_days = {
        ob.id
        for _, ob in journey.obligations.values()
        if str(ob.due) == "2 working days after referral"
    }
    assert two_days, "adult-cjs has no '2 working days after referral' obligation any more"
    by_id = {r["obligation"]: r for r in rows}
    for name in two_days:
        if name in by_id:
            assert by_id[name]["due"] == "2026-12-30T23:59:59+00:00"
    assert two_days & set(by_id)
    # only stages whose anchors are recorded: nothing anchored on the trial yet

    def needs_more(anchor) -> bool:  # known only once an event besides the referral is
        if anchor.pick is not None and anchor.pick.which == "first":
            return "referral" not in anchor.events
        return set(anchor.events) != {"referral"}

    anchored_on_trial = {
        ob.id
        for stage, ob in journey.obligations.values()
        if needs_more(journey.stage_start(stage)) or (ob.due and needs_more(ob.due))
    }
    assert not anchored_on_trial & set(by_id)


def test_simulate_json_is_the_plan_of_the_journey(cli) -> None:
    rows = simulate_json(
        cli, str(MINIMAL), "--event", "referral=2026-12-24", "--now", "2026-12-28T12:00"
    )
    keys = ("obligation", "stage", "title", "category", "occurrence", "due")
    assert [{k: r[k] for k in keys} for r in rows] == [
        {
            "obligation": "safe-accommodation",
            "stage": "first-month",
            "title": "Safe accommodation arranged",
            "category": "accommodation",
            "occurrence": 1,
            "due": "2026-12-25T00:00:00+00:00",
        },
        {
            "obligation": "support-referral",
            "stage": "first-month",
            "title": "Referred to support services",
            "category": "safety",
            "occurrence": 1,
            "due": "2026-12-30T23:59:59+00:00",
        },
        {
            "obligation": "check-in",
            "stage": "first-month",
            "title": "Weekly check-in",
            "category": "contact",
            "occurrence": 1,
            "due": "2026-12-31T23:59:59+00:00",
        },
    ]


def test_simulate_facts_and_more_events(alongside) -> None:
    base = ("--event", "referral=2026-12-24", "--now", "2026-12-28T12:00")
    cli = alongside
    child = simulate_json(cli, str(MINIMAL), *base, "--fact", "age=16")
    assert {r["obligation"]: r["due"] for r in child}["child-safeguarding"] == (
        "2026-12-25T23:59:59+00:00"
    )
    adult = simulate_json(cli, str(MINIMAL), *base, "--fact", "age=40")
    assert "child-safeguarding" not in {r["obligation"] for r in adult}
    trial = simulate_json(cli, str(MINIMAL), *base, "--event", "trial=2027-03-01")
    visit = [r for r in trial if r["obligation"] == "pre-trial-visit"]
    assert [(r["stage"], r["due"]) for r in visit] == [
        ("trial-preparation", "2027-02-15T23:59:59+00:00")
    ]
    remote = simulate_json(
        cli, str(MINIMAL), *base, "--event", "trial=2027-03-01", "--fact", "remote_evidence=yes"
    )
    assert "pre-trial-visit" not in {r["obligation"] for r in remote}


def test_simulate_date_time_events_and_summer_time(alongside) -> None:
    rows = simulate_json(
        alongside, str(MINIMAL), "--event", "referral=2026-07-01T14:30", "--now", "2026-07-01T15:00"
    )
    due = {r["obligation"]: r["due"] for r in rows}
    assert due["safe-accommodation"] == "2026-07-02T13:30:00+00:00"  # 24 hours, exact
    assert due["support-referral"] == "2026-07-03T22:59:59+00:00"  # end of day, BST
    # the first month starts at the referral's instant (language 1.1): a check-in at once
    assert due["check-in"] == "2026-07-08T22:59:59+00:00"


def test_simulate_table(cli) -> None:
    result = cli(
        "journeys", "simulate", str(MINIMAL), "--event", "referral=2026-12-24",
        "--now", "2026-12-28T12:00",
    )  # fmt: skip
    assert "minimal v" in result.stdout
    assert "Wed 30 Dec 2026" in result.stdout
    assert "support-referral" in result.stdout


def test_simulate_gantt_draws_each_task_on_its_own_obligations_local_day(alongside) -> None:
    # safe-return-romania counts in Bucharest, but told-of-arrest is owed in England and
    # Wales (rule 6): due 2027-03-02T23:59:59 London time, which is already 3 March in
    # Bucharest; the chart shows the day the duty is due, 2 March.
    args = ("safe-return-romania", "--event", "referral=2027-02-22", "--event", "arrest=2027-03-01")
    args += ("--now", "2027-03-01T12:00")
    due = {r["obligation"]: r["due"] for r in simulate_json(alongside, *args)}
    assert due["told-of-arrest"] == "2027-03-02T23:59:59+00:00"
    chart = alongside("journeys", "simulate", *args, "--mermaid").stdout.splitlines()
    told = [line for line in chart if "Told of arrest or interview" in line]
    assert len(told) == 1 and told[0].endswith(", 2027-03-02, 0d"), told


def test_simulate_without_events_is_an_empty_plan(alongside) -> None:
    assert simulate_json(alongside, str(MINIMAL), "--now", "2026-12-28T12:00") == []


@pytest.mark.parametrize(
    ("args", "fragment"),
    [
        pytest.param(["--event", "hearing=2026-12-24"], "unknown event 'hearing'", id="event-name"),
        pytest.param(["--event", "referral=24/12/2026"], "bad date '24/12/2026'", id="date"),
        pytest.param(["--event", "referral=2026-02-30"], "bad date", id="no-such-day"),
        pytest.param(["--event", "referral=2026-12-24T25:00"], "bad date", id="no-such-hour"),
        pytest.param(["--event", "referral=9999-12-31"], "out of range", id="far-future"),
        pytest.param(["--event", "referral"], "expected NAME=VALUE", id="no-equals"),
        pytest.param(["--event", "=2026-12-24"], "expected NAME=VALUE", id="no-name"),
        pytest.param(["--fact", "age=sixteen"], "fact 'age' is an integer", id="fact-type"),
        pytest.param(["--fact", "age=1.5"], "fact 'age' is an integer", id="fact-fraction"),
        pytest.param(["--fact", "age=200"], "above the maximum 120", id="fact-range"),
        pytest.param(["--fact", "remote_evidence=maybe"], "boolean", id="fact-boolean"),
        pytest.param(["--fact", "colour=red"], "unknown fact 'colour'", id="fact-name"),
        pytest.param(["--now", "tomorrow"], "bad date 'tomorrow'", id="now"),
    ],
)
def test_simulate_bad_events_and_facts_are_one_line_errors(
    alongside, args: list[str], fragment: str
) -> None:
    base = [] if args[0] == "--event" else ["--event", "referral=2026-12-24"]
    result = alongside("journeys", "simulate", str(MINIMAL), *base, *args, code=1)
    assert fragment in one_line_error(result)
    assert result.stdout == ""


def test_simulate_bad_input_in_the_real_command(cli) -> None:
    result = cli("journeys", "simulate", "adult-cjs", "--event", "referral=soon", code=1)
    assert one_line_error(result) == (
        "error: bad date 'soon': expected an ISO date (2027-03-01) or date-time (2027-03-01T09:30)"
    )
    assert result.stdout == ""


def test_simulate_unknown_or_invalid_journeys(alongside) -> None:
    cli = alongside
    unknown = one_line_error(cli("journeys", "simulate", "no-such-journey", code=1))
    assert "unknown journey 'no-such-journey'" in unknown and "adult-cjs" in unknown
    invalid = one_line_error(cli("journeys", "simulate", str(BROKEN), code=1))
    assert f"{BROKEN}:5:11:" in invalid and "and 3 more" in invalid
    missing = one_line_error(cli("journeys", "simulate", "nowhere/at-all.yaml", code=1))
    assert "no journey file at nowhere/at-all.yaml" in missing


# --- show --------------------------------------------------------------------------------------


def test_show_outlines_stages_deadlines_and_ladders(cli) -> None:
    text = cli("journeys", "show", str(MINIMAL)).stdout
    version = load_journey(MINIMAL).version
    assert text.splitlines()[:2] == [
        f"Minimal test journey (minimal v{version})",
        "calendar england-and-wales, time zone Europe/London, opens on 'referral'",
    ]
    for expected in (
        "facts: age (integer), remote_evidence (boolean)",
        "First month [first-month]: starts referral, ends 1 month after referral",
        "  - Safe accommodation arranged [safe-accommodation, accommodation]: "
        "due 24 hours after referral",
        "      remind the navigator 4 hours before",
        "      2 hours overdue: tell the team lead",
        "      1 working day overdue: tell the team lead and programme lead",
        "      only when age < 18",
        "every 1 week, one at a time, while the stage is active",
        "starts 8 weeks before trial, ends trial",
    ):
        assert expected in text, expected


def test_show_every_shipped_journey(alongside) -> None:
    for name in SHIPPED_IDS:
        text = alongside("journeys", "show", name).stdout
        journey = load_journey(SHIPPED / f"{name}.yaml")
        assert text.startswith(f"{journey.title} ({name} v{journey.version})")
        for stage in journey.stages:
            assert f"{stage.title} [{stage.id}]" in text
        assert "overdue: tell the" in text  # every shipped journey has escalation ladders


def test_show_mermaid(cli) -> None:
    lines = cli("journeys", "show", str(MINIMAL), "--mermaid").stdout.strip().splitlines()
    assert lines[0] == "flowchart LR"
    assert '  ev_referral(["referral"])' in lines
    assert '  st_first_month["First month<br/>4 obligations"]' in lines
    assert '  ev_referral -->|"starts: referral"| st_first_month' in lines
    assert '  ev_referral -.->|"ends: 1 month after referral"| st_first_month' in lines
    assert not any(line.lstrip().startswith("st_") and "->" in line for line in lines)
    # a quote in a title must not end the Mermaid label early
    assert (
        '  st_trial_preparation["Trial preparation (#quot;the run-up#quot;)<br/>1 obligation"]'
        in lines
    )
    assert '  ev_trial -->|"starts: 8 weeks before trial"| st_trial_preparation' in lines


def test_show_mermaid_for_a_shipped_journey(alongside) -> None:
    text = alongside("journeys", "show", "adult-cjs", "--mermaid").stdout
    journey = load_journey(SHIPPED / "adult-cjs.yaml")
    assert text.startswith("flowchart LR\n")
    for stage in journey.stages:
        assert f"st_{stage.id.replace('-', '_')}[" in text


def test_show_unknown_journey(alongside) -> None:
    assert "unknown journey 'nope'" in one_line_error(alongside("journeys", "show", "nope", code=1))
