"""YAML -> Journey, with every problem reported as `FILE:LINE:COL: message`.

PyYAML's composer keeps the position of every node; we build plain Python data from the
node tree ourselves so that we can (a) remember where each value came from, (b) refuse
duplicate keys, which PyYAML would silently resolve by keeping the last one, and (c) refuse
alias bombs by sizing the expanded document before expanding it. Structural and type errors
come from pydantic, cross-references from the validation context, and the few rules that
span several items (duplicate ids, escalation order, the journey id) from a final pass; all
of them are reported together.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml
from pydantic import ValidationError

from engine.calendar import Duration, parse_duration
from engine.journey import Journey, nominal_hours

MAX_NODES = 20_000  # a large journey has a few thousand nodes; aliases must not blow this up
MAX_BYTES = 2_000_000

Loc = tuple[str | int, ...]


@dataclass(frozen=True, slots=True)
class Problem:
    """One validation problem, located in the source file (1-based line and column)."""

    file: str
    line: int
    column: int
    message: str

    def __str__(self) -> str:
        return f"{self.file}:{self.line}:{self.column}: {self.message}"


class JourneyError(Exception):
    """A journey file that cannot be used; carries every problem found."""

    def __init__(self, problems: list[Problem]):
        super().__init__("\n".join(map(str, problems)))
        self.problems = problems


class _Positions:
    """Where each value (and each mapping key) of the document was written."""

    def __init__(self) -> None:
        self.values: dict[Loc, tuple[int, int]] = {}
        self.keys: dict[Loc, tuple[int, int]] = {}

    def of(self, loc: Loc, prefer_key: bool = False) -> tuple[int, int]:
        """The most precise known position for `loc`, walking up to its nearest ancestor."""
        for end in range(len(loc), -1, -1):
            head = loc[:end]
            if prefer_key and head in self.keys:
                return self.keys[head]
            if head in self.values:
                return self.values[head]
        return (1, 1)


def _mark(node: yaml.Node) -> tuple[int, int]:
    return node.start_mark.line + 1, node.start_mark.column + 1


def _expanded_size(root: yaml.Node) -> int:
    """Node count of the document with aliases expanded, computed without expanding them."""
    memo: dict[int, int] = {}

    def size(node: yaml.Node) -> int:
        if id(node) in memo:
            return memo[id(node)]
        memo[id(node)] = MAX_NODES + 1  # a node inside itself is a recursive alias: too big
        total = 1
        if isinstance(node, yaml.SequenceNode):
            total += sum(size(child) for child in node.value)
        elif isinstance(node, yaml.MappingNode):
            total += sum(size(k) + size(v) for k, v in node.value)
        memo[id(node)] = min(total, MAX_NODES + 1)
        return memo[id(node)]

    return size(root)


def _to_python(
    node: yaml.Node, loc: Loc, positions: _Positions, loader: yaml.SafeLoader, errors: list
) -> Any:
    positions.values[loc] = _mark(node)
    if isinstance(node, yaml.MappingNode):
        result: dict[Any, Any] = {}
        for key_node, value_node in node.value:
            key = _to_python(key_node, (*loc, "<key>"), positions, loader, errors)
            if not isinstance(key, str | int | bool) or key is None:
                errors.append((_mark(key_node), "mapping keys must be plain names"))
                continue
            key = str(key) if not isinstance(key, str) else key
            if key in result:
                first = positions.keys[(*loc, key)]
                errors.append(
                    (_mark(key_node), f"duplicate key '{key}' (first at line {first[0]})")
                )
                continue
            positions.keys[(*loc, key)] = _mark(key_node)
            result[key] = _to_python(value_node, (*loc, key), positions, loader, errors)
        positions.values.pop((*loc, "<key>"), None)
        return result
    if isinstance(node, yaml.SequenceNode):
        return tuple(
            _to_python(child, (*loc, i), positions, loader, errors)
            for i, child in enumerate(node.value)
        )
    try:
        return loader.construct_object(node)
    except yaml.YAMLError as error:
        errors.append((_mark(node), f"unsupported value: {_one_line(error)}"))
        return None


def _one_line(error: Exception) -> str:
    problem = getattr(error, "problem", None)
    context = getattr(error, "context", None)
    text = problem or str(error)
    if context and problem:
        text = f"{context}: {problem}"
    return " ".join(str(text).split())


def read_document(text: str, file: str) -> tuple[Any, _Positions, list[Problem]]:
    """Parse YAML text into Python data with positions, or return the problems."""
    positions = _Positions()
    loader = yaml.SafeLoader(text)
    try:
        root = loader.get_single_node()
    except yaml.MarkedYAMLError as error:
        mark = error.problem_mark or error.context_mark
        line, col = (mark.line + 1, mark.column + 1) if mark else (1, 1)
        return None, positions, [Problem(file, line, col, f"not valid YAML: {_one_line(error)}")]
    except yaml.YAMLError as error:
        return None, positions, [Problem(file, 1, 1, f"not valid YAML: {_one_line(error)}")]
    finally:
        loader.dispose()
    if root is None:
        return None, positions, [Problem(file, 1, 1, "empty file: expected a journey mapping")]
    if _expanded_size(root) > MAX_NODES:
        line, col = _mark(root)
        message = f"document too large once aliases are expanded (over {MAX_NODES} nodes)"
        return None, positions, [Problem(file, line, col, message)]
    errors: list[tuple[tuple[int, int], str]] = []
    data = _to_python(root, (), positions, loader, errors)
    problems = [Problem(file, line, col, message) for (line, col), message in errors]
    if not problems and not isinstance(data, dict):
        line, col = _mark(root)
        problems.append(Problem(file, line, col, "expected a journey mapping (key: value lines)"))
    return data, positions, problems


def _where(loc: Iterable[str | int]) -> str:
    text = ""
    for part in loc:
        text += f"[{part}]" if isinstance(part, int) else (f".{part}" if text else str(part))
    return text


def _pydantic_problems(error: ValidationError, data: dict, positions: _Positions, file: str):
    for item in error.errors(include_url=False):
        loc = tuple(part for part in item["loc"] if isinstance(part, int) or not _is_type_tag(part))
        kind = item["type"]
        if kind == "extra_forbidden":
            message = f"unknown key '{loc[-1]}'"
            line, col = positions.of(loc, prefer_key=True)
        elif kind == "missing":
            message = f"missing required key '{loc[-1]}'"
            line, col = positions.of(loc[:-1])
        else:
            message = item["msg"].removeprefix("Value error, ")
            if kind == "literal_error":
                message = f"'{item['input']}' is not allowed: {message.lower()}"
            line, col = positions.of(loc)
        where = _where(loc)
        yield Problem(file, line, col, f"{where}: {message}" if where else message)


def _is_type_tag(part: str) -> bool:
    """pydantic puts union member and validator names into locations; they are not keys."""
    return any(mark in part for mark in ("[", "(", "function-")) or part in {
        "str",
        "int",
        "bool",
        "tuple",
    }


def _cross_checks(data: dict, file: str, positions: _Positions):
    """Rules spanning several items: the id matches the file, ids are unique, ladders rise."""
    stem = Path(file).stem
    if isinstance(data.get("journey"), str) and data["journey"] != stem:
        line, col = positions.of(("journey",))
        yield Problem(
            file, line, col, f"journey: id '{data['journey']}' must match the file name '{stem}'"
        )
    seen: dict[str, str] = {}
    for s, stage in _items(data.get("stages")):
        yield from _unique(stage.get("id"), ("stages", s, "id"), seen, "stage", file, positions)
        for o, ob in _items(stage.get("obligations")):
            loc = ("stages", s, "obligations", o)
            yield from _unique(ob.get("id"), (*loc, "id"), seen, "obligation", file, positions)
            yield from _ladder_rises(ob.get("escalate"), (*loc, "escalate"), file, positions)


def _items(value: Any):
    if isinstance(value, tuple):
        yield from ((i, item) for i, item in enumerate(value) if isinstance(item, dict))


def _unique(value: Any, loc: Loc, seen: dict[str, str], kind: str, file: str, positions):
    if not isinstance(value, str):
        return
    if value in seen:
        line, col = positions.of(loc)
        yield Problem(
            file, line, col, f"{_where(loc)}: duplicate id '{value}' (already a {seen[value]})"
        )
    else:
        seen[value] = kind


def _ladder_rises(steps: Any, loc: Loc, file: str, positions: _Positions):
    previous: Duration | None = None
    for i, step in _items(steps):
        try:
            after = parse_duration(step.get("after"))
        except (ValueError, TypeError, AttributeError):
            continue
        if previous is not None and nominal_hours(after) <= nominal_hours(previous):
            line, col = positions.of((*loc, i, "after"))
            message = (
                f"escalation steps must be strictly increasing: '{after}' is not after '{previous}'"
            )
            yield Problem(file, line, col, f"{_where((*loc, i, 'after'))}: {message}")
        previous = after


def _context(data: dict) -> dict[str, set[str]]:
    """Declared names, so anchors and conditions can be checked while they are parsed."""
    events = data.get("events")
    facts = data.get("facts")
    return {
        "events": {e for e in events if isinstance(e, str)} if isinstance(events, tuple) else set(),
        "facts": set(facts) if isinstance(facts, dict) else set(),
    }


def parse_journey(text: str, file: str) -> Journey:
    """Validate journey text; raise JourneyError with every problem, sorted by position."""
    data, positions, problems = read_document(text, file)
    if problems:
        raise JourneyError(problems)
    try:
        journey = Journey.model_validate(data, context=_context(data))
    except ValidationError as error:
        problems.extend(_pydantic_problems(error, data, positions, file))
        journey = None
    problems.extend(_cross_checks(data, file, positions))
    if problems:
        raise JourneyError(sorted(set(problems), key=lambda p: (p.line, p.column, p.message)))
    return journey


def load_journey(path: str | Path) -> Journey:
    """Read and validate one journey file; unreadable files are problems, not tracebacks."""
    path = Path(path)
    file = str(path)
    try:
        raw = path.read_bytes()
    except OSError as error:
        raise JourneyError([Problem(file, 1, 1, f"cannot read file: {error.strerror}")]) from None
    if len(raw) > MAX_BYTES:
        raise JourneyError([Problem(file, 1, 1, f"file too large (over {MAX_BYTES} bytes)")])
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as error:
        line = raw[: error.start].count(b"\n") + 1
        col = error.start - (raw.rfind(b"\n", 0, error.start) + 1) + 1
        raise JourneyError([Problem(file, line, col, "not UTF-8 text")]) from None
    return parse_journey(text, file)


def journey_files(directory: Path) -> list[Path]:
    return sorted(p for p in directory.glob("*.yaml") if p.is_file())


def json_schema() -> str:
    """The JSON Schema of the language, for editors (yaml-language-server) and tools."""
    schema = Journey.model_json_schema(mode="validation")
    schema["$schema"] = "https://json-schema.org/draft/2020-12/schema"
    return json.dumps(schema, indent=2) + "\n"
