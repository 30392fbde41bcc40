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

import difflib
import json
import re
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from functools import cache
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import yaml
from pydantic import ValidationError

from engine.core.calendar import (
    CALENDAR_NAMES,
    Duration,
    check_length,
    end_of_day,
    get_calendar,
    local_time,
    parse_duration,
    shift,
)
from engine.core.journey import (
    KEBAB,
    NOT_BLANK,
    SNAKE,
    Escalation,
    Event,
    Fact,
    FailureEscalation,
    Journey,
    Obligation,
    Stage,
    parse_anchor,
)
from engine.core.text import printable

MAX_NODES = 20_000  # a large journey has a few thousand nodes; aliases must not blow this up
MAX_DEPTH = 64  # a journey nests about 9 levels deep; deeper is an attack or a mistake
# The shipped journeys are about 21 KB each. The pure-Python YAML reader takes seconds per
# megabyte, so the size is checked on the raw text, before any parsing: a 2 MB file used
# to take 35 s of CPU to be refused.
MAX_BYTES = 512 * 1024

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


class _TooDeep(yaml.MarkedYAMLError):
    pass


class _Loader(yaml.SafeLoader):
    """SafeLoader whose composer refuses deep nesting instead of overflowing the stack, and
    stops composing as soon as the document has more nodes than any journey could need."""

    _depth = 0
    _nodes = 0

    def compose_node(self, parent, index):  # type: ignore[no-untyped-def]
        self._depth += 1
        self._nodes += 1
        try:
            if self._depth > MAX_DEPTH:
                mark = self.peek_event().start_mark
                raise _TooDeep(
                    problem=f"nested more than {MAX_DEPTH} levels deep", problem_mark=mark
                )
            if self._nodes > MAX_NODES:
                mark = self.peek_event().start_mark
                raise _TooDeep(
                    problem=f"journey is too large: more than {MAX_NODES} values",
                    problem_mark=mark,
                )
            return super().compose_node(parent, index)
        finally:
            self._depth -= 1


_STANDARD_COLLECTION_TAGS = {"tag:yaml.org,2002:map", "tag:yaml.org,2002:seq"}
_MERGE_TAG = "tag:yaml.org,2002:merge"


def _children(node: yaml.Node) -> list[yaml.Node]:
    if isinstance(node, yaml.SequenceNode):
        return list(node.value)
    if isinstance(node, yaml.MappingNode):
        return [child for pair in node.value for child in pair]
    return []


def _expanded_size(root: yaml.Node) -> tuple[int, int]:
    """(node count, depth) of the document with aliases expanded, without expanding them.

    Iterative, so a long chain of aliases cannot overflow the stack; a node reached again
    while it is still being sized is a recursive alias and counts as too big.
    """
    too_big = (MAX_NODES + 1, MAX_DEPTH + 1)
    memo: dict[int, tuple[int, int]] = {}
    stack: list[tuple[yaml.Node, bool]] = [(root, False)]
    while stack:
        node, children_done = stack.pop()
        if children_done:
            sizes = [memo[id(child)] for child in _children(node)]
            count = 1 + sum(size for size, _ in sizes)
            depth = 1 + max((d for _, d in sizes), default=0)
            memo[id(node)] = (min(count, too_big[0]), min(depth, too_big[1]))
        elif id(node) not in memo:
            memo[id(node)] = too_big  # until its children are sized
            stack.append((node, True))
            stack.extend((child, False) for child in _children(node))
    return memo[id(root)]


def _to_python(
    node: yaml.Node, loc: Loc, positions: _Positions, loader: yaml.SafeLoader, errors: list
) -> Any:
    """Plain data from a node; `errors` gets ((line, col), message, fatal) for each problem.

    A duplicate key is not fatal (the first value is kept and validation goes on, so every
    other problem is reported too); anything that leaves a hole in the data is.
    """
    positions.values[loc] = _mark(node)
    collection = isinstance(node, yaml.MappingNode | yaml.SequenceNode)
    if node.tag not in (_STANDARD_COLLECTION_TAGS if collection else loader.yaml_constructors):
        tag = node.tag.replace("tag:yaml.org,2002:", "!!")
        errors.append((_mark(node), f"unsupported tag '{tag}'", True))
        return None
    if isinstance(node, yaml.MappingNode):
        result: dict[Any, Any] = {}
        for key_node, value_node in node.value:
            if key_node.tag == _MERGE_TAG:
                message = "merge keys ('<<') are not supported: write the keys out"
                errors.append((_mark(key_node), message, True))
                continue
            count = len(errors)
            key = _to_python(key_node, (*loc, "<key>"), positions, loader, errors)
            if len(errors) > count:
                continue
            if not isinstance(key, str | int | bool) or key is None:
                errors.append((_mark(key_node), "mapping keys must be plain names", True))
                continue
            key = str(key) if not isinstance(key, str) else key
            if key in result:
                first = positions.keys[(*loc, key)]
                message = f"duplicate key '{key}' (first at line {first[0]})"
                errors.append((_mark(key_node), message, False))
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
        errors.append((_mark(node), f"unsupported value: {_one_line(error)}", True))
        return None
    except (ValueError, OverflowError):
        # dates such as 2026-02-30, numbers longer than Python will convert
        kind = "date" if node.tag.endswith("timestamp") else "number"
        text = node.value if len(node.value) <= 40 else node.value[:40] + "..."
        message = f"cannot read '{text}': it looks like a {kind} but is not a valid one"
        errors.append((_mark(node), message, True))
        return None


def _one_line(error: Exception) -> str:
    problem = getattr(error, "problem", None)
    context = getattr(error, "context", None)
    text = problem or str(error)
    if context and problem:
        text = f"{context}: {problem}"
    return " ".join(str(text).split())


_INDENTATION = "this line is indented differently from the lines above it"
# PyYAML's words for the mistakes people make most, and what they mean for a journey file.
_PLAIN = {
    "found character '\\t' that cannot start any token": "a tab: indent with spaces, not tabs",
    "expected <block end>": _INDENTATION,
    "did not find expected key": _INDENTATION,
    "mapping values are not allowed here": (
        f"{_INDENTATION} (or a value has ': ' in it and needs quotes)"
    ),
}


def _plain_words(error: yaml.MarkedYAMLError) -> str:
    """A YAML syntax error in the words of the mistake behind it, where it is a common one."""
    text = _one_line(error)
    for marker, plain in _PLAIN.items():
        if marker in text:
            return plain
    return text


def _position(text: str, index: int) -> tuple[int, int]:
    line_start = text.rfind("\n", 0, index) + 1
    return text.count("\n", 0, index) + 1, index - line_start + 1


def read_document(text: str, file: str) -> tuple[Any, _Positions, list[Problem], bool]:
    """Parse YAML text into Python data with positions.

    Returns (data, positions, problems, usable): `usable` is false when the data cannot be
    validated further (not YAML, not a mapping, a hole where a value could not be read).
    """
    positions = _Positions()
    loader = None
    try:
        loader = _Loader(text)  # the reader refuses control characters right here
        root = loader.get_single_node()
    except _TooDeep as error:
        mark = error.problem_mark
        problem = Problem(file, mark.line + 1, mark.column + 1, error.problem)
        return None, positions, [problem], False
    except yaml.MarkedYAMLError as error:
        mark = error.problem_mark or error.context_mark
        line, col = (mark.line + 1, mark.column + 1) if mark else (1, 1)
        problem = Problem(file, line, col, f"not valid YAML: {_plain_words(error)}")
        return None, positions, [problem], False
    except yaml.reader.ReaderError as error:
        line, col = _position(text, error.position)
        message = f"not valid YAML: control character U+{error.character:04X} is not allowed"
        return None, positions, [Problem(file, line, col, message)], False
    except yaml.YAMLError as error:
        return None, positions, [Problem(file, 1, 1, f"not valid YAML: {_one_line(error)}")], False
    finally:
        if loader is not None:
            loader.dispose()
    if root is None:
        problem = Problem(file, 1, 1, "empty file: expected a journey mapping")
        return None, positions, [problem], False
    count, depth = _expanded_size(root)
    if count > MAX_NODES or depth > MAX_DEPTH:
        line, col = _mark(root)
        message = (
            f"document too large once aliases are expanded "
            f"(over {MAX_NODES} nodes or {MAX_DEPTH} levels)"
        )
        return None, positions, [Problem(file, line, col, message)], False
    errors: list[tuple[tuple[int, int], str, bool]] = []
    data = _to_python(root, (), positions, loader, errors)
    problems = [Problem(file, line, col, message) for (line, col), message, _ in errors]
    usable = not any(fatal for _, _, fatal in errors)
    if usable and not isinstance(data, dict):
        line, col = _mark(root)
        problems.append(Problem(file, line, col, "expected a journey mapping (key: value lines)"))
        usable = False
    return data, positions, problems, usable


def _where(loc: Iterable[str | int]) -> str:
    text = ""
    for part in loc:
        text += f"[{part}]" if isinstance(part, int) else (f".{part}" if text else str(part))
    return text


_PATTERNS = {
    KEBAB: "must be lowercase kebab-case, such as 'first-month'",
    SNAKE: "must be lowercase snake_case, such as 'trial_listed'",
    NOT_BLANK: "is blank: write what it is, as navigators will see it",
}
_TYPES = {
    "string_type": "expected text",
    "tuple_type": "expected a list",
    "dict_type": "expected a mapping (key: value lines)",
    "model_type": "expected a mapping (key: value lines)",
    "int_type": "expected a whole number",
    "bool_type": "expected true or false",
    "string_too_short": "must not be empty",
    "too_short": "must list at least one item",
}


def _pydantic_problems(error: ValidationError, data: dict, positions: _Positions, file: str):
    items = error.errors(include_url=False)
    locs = [_data_loc(item["loc"], data) for item in items]
    for item, loc in zip(items, locs, strict=True):
        kind = item["type"]
        if kind == "too_short" and any(
            len(other) > len(loc) and other[: len(loc)] == loc for other in locs
        ):
            continue  # "no valid items" because every item has its own problem, reported below
        if kind == "journey_rule":
            # a rule of the model that names the key or item inside it that breaks it
            loc = (*loc, *item["ctx"]["at"])
            message = item["msg"]
            line, col = positions.of(loc)
        elif kind == "extra_forbidden":
            message = f"unknown key '{loc[-1]}'" + _did_you_mean(str(loc[-1]), _keys_at(loc[:-1]))
            line, col = positions.of(loc, prefer_key=True)
        elif kind == "missing":
            message = f"missing required key '{loc[-1]}'"
            line, col = positions.of(loc[:-1])
        else:
            message = item["msg"].removeprefix("Value error, ")
            if kind == "literal_error":
                message = f"'{printable(item['input'])}' is not allowed: {message.lower()}"
                expected = re.findall(r"'([^']*)'", (item.get("ctx") or {}).get("expected", ""))
                if isinstance(item["input"], str):
                    message += _did_you_mean(item["input"], expected)
            elif kind == "string_pattern_mismatch":
                pattern = (item.get("ctx") or {}).get("pattern")
                if pattern in _PATTERNS:
                    message = f"'{printable(item['input'])}' {_PATTERNS[pattern]}"
            elif kind in ("string_too_short", "too_short"):
                message = _TYPES[kind]
            elif kind in _TYPES:
                message = f"{_TYPES[kind]}, not {_describe(item['input'])}"
            # a bad mapping key (pydantic's `[key]`) is at the key, not at its value
            line, col = positions.of(loc, prefer_key="[key]" in item["loc"])
        where = _where(loc)
        yield Problem(file, line, col, f"{where}: {message}" if where else message)


def _did_you_mean(given: str, allowed: Iterable[str]) -> str:
    """`; did you mean 'court'?` for a near miss (case does not count), else nothing."""
    allowed = list(allowed)
    by_case = {name.lower(): name for name in allowed}
    if given.lower() in by_case:
        return f"; did you mean '{by_case[given.lower()]}'?"
    close = difflib.get_close_matches(given.lower(), list(by_case), n=1, cutoff=0.75)
    return f"; did you mean '{by_case[close[0]]}'?" if close else ""


def _keys_at(loc: Loc) -> list[str]:
    """The keys the language allows in the mapping at `loc` of a journey document."""
    path = tuple("#" if isinstance(part, int) else part for part in loc)
    model: Any = {
        (): Journey,
        ("events", "#"): Event,
        ("stages", "#"): Stage,
        ("stages", "#", "obligations", "#"): Obligation,
        ("stages", "#", "obligations", "#", "escalate", "#"): Escalation,
        ("stages", "#", "obligations", "#", "escalate_after_failures"): FailureEscalation,
    }.get(path)
    if model is None and len(path) == 2 and path[0] == "facts":
        model = Fact
    if model is None and len(path) == 3 and path[0] == "ladders":
        model = Escalation
    if model is None:
        return []
    return [field.alias or name for name, field in model.model_fields.items()]


def _describe(value: Any) -> str:
    if isinstance(value, bool):
        return "true/false"
    if value is None:
        return "nothing"
    if isinstance(value, dict):
        return "a mapping"
    if isinstance(value, tuple):
        return "a list"
    if isinstance(value, int | float):
        return f"the number {value}"
    if isinstance(value, str):
        return f"'{printable(value)}'"
    if isinstance(value, date):
        return "a date"
    return type(value).__name__


def _data_loc(loc: Iterable[str | int], data: Any) -> Loc:
    """A pydantic location as keys of the document: drop the union member and validator
    names pydantic puts in locations (`str`, `function-after[...]`), keeping real keys
    even when a fact happens to be called `str`.
    """
    kept: list[str | int] = []
    node = data
    for part in loc:
        if isinstance(node, dict):
            if part not in node and _is_type_tag(str(part)):
                continue
            node = node.get(part)  # None below a missing key: nothing further to follow
        elif isinstance(node, tuple) and isinstance(part, int) and 0 <= part < len(node):
            node = node[part]
        elif isinstance(part, str):
            continue  # below a list or a plain value, a name is pydantic's, not a key
        kept.append(part)
    return tuple(kept)


def _is_type_tag(part: str) -> bool:
    """pydantic puts union member and validator names into locations; they are not keys."""
    return any(mark in part for mark in ("[", "(", "function-")) or part in {
        "str",
        "int",
        "bool",
        "tuple",
    }


def _cross_checks(data: dict, file: str, positions: _Positions):
    """Rules spanning several items: the id matches the file, ids and events are unique,
    ladders rise."""
    stem = Path(file).stem
    if isinstance(data.get("journey"), str) and data["journey"] != stem:
        line, col = positions.of(("journey",))
        yield Problem(
            file, line, col, f"journey: id '{data['journey']}' must match the file name '{stem}'"
        )
    events = data.get("events")
    if isinstance(events, tuple):
        declared: set[str] = set()
        for i, entry in enumerate(events):
            name = _event_name(entry)
            if name is None:
                continue  # a number or a list in the list: pydantic reports it, at its line
            if name in declared:
                line, col = positions.of(("events", i))
                yield Problem(file, line, col, f"events[{i}]: duplicate event '{name}'")
            declared.add(name)
    seen: dict[str, str] = {}
    ladders = data.get("ladders") if isinstance(data.get("ladders"), dict) else {}
    users = [
        (ob, _ladder_clock(data, stage, ob))
        for _, stage in _items(data.get("stages"))
        for _, ob in _items(stage.get("obligations"))
    ]
    for name, steps in ladders.items():
        # checked once where it is written, at the strictest due any user of it has, on
        # each clock its users count on (the journey's if none uses it), until one fails
        mine = [(ob, clock) for ob, clock in users if ob.get("escalate") == name]
        exact = any(_due_is_exact(ob) for ob, _ in mine)
        for clock in dict.fromkeys(clock for _, clock in mine) or [_ladder_clock(data)]:
            found = list(
                _ladder_rises({"escalate": steps}, ("ladders", name), clock, file, positions, exact)
            )
            yield from found
            if found:
                break
    for s, stage in _items(data.get("stages")):
        yield from _unique(stage.get("id"), ("stages", s, "id"), seen, "stage", file, positions)
        for o, ob in _items(stage.get("obligations")):
            loc = ("stages", s, "obligations", o)
            yield from _unique(ob.get("id"), (*loc, "id"), seen, "obligation", file, positions)
            clock = _ladder_clock(data, stage, ob)
            yield from _ladder_rises(ob, (*loc, "escalate"), clock, file, positions)


def _items(value: Any):
    if isinstance(value, tuple):
        yield from ((i, item) for i, item in enumerate(value) if isinstance(item, dict))


def _unique(value: Any, loc: Loc, seen: dict[str, str], kind: str, file: str, positions):
    if not isinstance(value, str):
        return
    if value in seen:
        line, col = positions.of(loc)
        kind = seen[value]
        article = "an" if kind[0] in "aeiou" else "a"
        yield Problem(
            file, line, col, f"{_where(loc)}: duplicate id '{value}' (already {article} {kind})"
        )
    else:
        seen[value] = kind


# Units that always keep their order among themselves: days and weeks are whole numbers of
# days; the others only compare with each other on a real calendar.
_FAMILY = {"hour": "hour", "day": "day", "week": "day", "working_day": "working_day"}
_DAYS = {"day": 1, "week": 7}


def _ladder_dates() -> tuple[date, ...]:
    """Due dates on which escalation steps of different units are compared.

    Two weeks round the turn of January and February and the end of February, in a common
    year (2027) and a leap year (2028), so every weekday, 31 January + 1 month and 29
    February are there; the last day of every month; the weekends of the clock changes;
    and Christmas to New Year, where working days stretch furthest.
    """
    days: set[date] = set()
    for year in (2027, 2028):
        for first, count in ((date(year, 1, 25), 14), (date(year, 2, 22), 14)):
            days.update(first + timedelta(n) for n in range(count))
        for month in range(1, 13):
            days.add(date(year + month // 12, month % 12 + 1, 1) - timedelta(1))
        for month in (3, 10):
            last_sunday = date(year, month, 31) - timedelta(
                (date(year, month, 31).weekday() + 1) % 7
            )
            days.update((last_sunday - timedelta(1), last_sunday))
        days.update(date(year, 12, 18) + timedelta(n) for n in range(17))
    return tuple(sorted(days))


_LADDER_DATES = _ladder_dates()


@dataclass(frozen=True, slots=True)
class _Clock:
    """The journey's calendar and time zone, for placing escalation steps on real dates."""

    calendar: str
    timezone: str


def _ladder_clock(data: dict, *within: dict) -> _Clock | None:
    """The clock an obligation's steps count on: the innermost of the journey, its stage and
    the obligation itself (`within`) to set each of `calendar` and `timezone`."""
    calendar, timezone = data.get("calendar"), data.get("timezone")
    for scope in within:
        calendar = scope.get("calendar", calendar)
        timezone = scope.get("timezone", timezone)
    if calendar not in CALENDAR_NAMES or not isinstance(timezone, str):
        return None  # reported elsewhere; steps are then compared by unit only
    try:
        ZoneInfo(timezone)
    except Exception:  # any bad name: `timezone:` reports its own problem
        return None
    return _Clock(calendar, timezone)


@cache
def _due_instants(clock: _Clock, exact: bool) -> tuple[datetime, ...]:
    """Due instants to compare ladders from: the end of each sample day and, for tasks due
    at an exact hour, also the first and last hour of the day."""
    tz = ZoneInfo(clock.timezone)
    instants = [end_of_day(d, tz) for d in _LADDER_DATES]
    if exact:
        instants += [local_time(d, t, tz) for d in _LADDER_DATES for t in (time(0), time(23))]
    return tuple(instants)


@cache
def _step_instants(clock: _Clock, exact: bool, after: Duration) -> tuple[datetime, ...]:
    """Where one step lands from each due instant; shared by every ladder using it."""
    tz = ZoneInfo(clock.timezone)
    calendar = get_calendar(clock.calendar)
    return tuple(shift(due, after, 1, calendar, tz) for due in _due_instants(clock, exact))


def _due_is_exact(ob: dict) -> bool:
    """Whether the task is due at an exact hour (an hour offset), not at the end of a day."""
    try:
        if isinstance(ob.get("due"), str):
            return parse_anchor(ob["due"]).precision == "hour"
        if isinstance(ob.get("every"), str):
            return parse_duration(ob["every"]).unit == "hour"
    except ValueError:
        pass
    return False


def _ladder_rises(
    ob: dict,
    loc: Loc,
    clock: _Clock | None,
    file: str,
    positions: _Positions,
    exact: bool | None = None,
):
    """Each escalation step must fire strictly after the one before, on every due date.

    Steps in one unit family compare by their numbers. Mixed units can cross over on a real
    calendar (`30 days` then `1 month` runs backwards from 31 January; `1 working day` then
    `2 days` from a Friday), so they are placed on real instants from sample due dates.
    """
    previous: Duration | None = None
    exact = _due_is_exact(ob) if exact is None else exact
    for i, step in _items(ob.get("escalate")):
        try:
            after = check_length(parse_duration(step.get("after")))
        except (ValueError, TypeError, AttributeError):
            continue  # reported by the model, at the step
        if previous is not None:
            reason = _not_after(previous, after, clock, exact)
            if reason is not None:
                line, col = positions.of((*loc, i, "after"))
                message = (
                    f"escalation steps must be strictly increasing: "
                    f"'{after}' is not after '{previous}'{reason}"
                )
                yield Problem(file, line, col, f"{_where((*loc, i, 'after'))}: {message}")
        previous = after


def _not_after(
    previous: Duration, after: Duration, clock: _Clock | None, exact: bool
) -> str | None:
    """None if `after` always fires strictly later than `previous`; else why not ('' when
    the numbers alone say so, or the due date on which it does not)."""
    family = _FAMILY.get(after.unit, after.unit)
    if family == _FAMILY.get(previous.unit, previous.unit):
        size = _DAYS.get(after.unit, 1)
        return None if after.count * size > previous.count * _DAYS.get(previous.unit, 1) else ""
    if clock is None:
        return None
    tz = ZoneInfo(clock.timezone)
    pairs = zip(
        _due_instants(clock, exact),
        _step_instants(clock, exact, previous),
        _step_instants(clock, exact, after),
        strict=True,
    )
    crossings = [(then < first, due, first, then) for due, first, then in pairs if then <= first]
    if not crossings:
        return None
    # name a due date on which the ladder really runs backwards if there is one, not merely
    # one on which two steps coincide
    _, due, first, then = next((c for c in crossings if c[0]), crossings[0])
    shown = "%Y-%m-%d %H:%M" if exact or "hour" in (previous.unit, after.unit) else "%Y-%m-%d"
    return (
        f" for a task due {due.astimezone(tz).strftime(shown)}"
        f" ({previous} after is {first.astimezone(tz).strftime(shown)},"
        f" {after} after is {then.astimezone(tz).strftime(shown)})"
    )


def _event_name(entry: Any) -> str | None:
    """The name an `events:` entry declares: a bare name, or a mapping's `name`."""
    if isinstance(entry, dict):
        entry = entry.get("name")
    return entry if isinstance(entry, str) else None


def _context(data: dict) -> dict[str, set[str]]:
    """Declared names, so anchors and conditions can be checked while they are parsed."""
    events = data.get("events")
    facts = data.get("facts")
    entries = events if isinstance(events, tuple) else ()
    names = {_event_name(e) for e in entries}
    ladders = data.get("ladders")
    return {
        "events": names - {None},
        "repeating": {
            _event_name(e) for e in entries if isinstance(e, dict) and e.get("repeats") is True
        }
        - {None},
        "facts": set(facts) if isinstance(facts, dict) else set(),
        "ladders": set(ladders) if isinstance(ladders, dict) else set(),
    }


def too_large(size: int, file: str) -> JourneyError:
    return JourneyError(
        [Problem(file, 1, 1, f"journey file is too large ({size} bytes; at most {MAX_BYTES})")]
    )


def parse_journey(text: str, file: str) -> Journey:
    """Validate journey text; raise JourneyError with every problem, sorted by position.

    The size cap comes first, on the raw text: nothing is parsed from a file that is too
    large.
    """
    size = len(text.encode("utf-8", "surrogatepass"))  # about a millisecond per megabyte
    if size > MAX_BYTES:
        raise too_large(size, file)
    data, positions, problems, usable = read_document(text, file)
    if not usable:
        raise JourneyError(_sorted(problems))
    try:
        journey = Journey.model_validate(data, context=_context(data))
    except ValidationError as error:
        problems.extend(_pydantic_problems(error, data, positions, file))
        journey = None
    problems.extend(_cross_checks(data, file, positions))
    if problems:
        raise JourneyError(_sorted(problems))
    return journey


def _sorted(problems: list[Problem]) -> list[Problem]:
    """Sorted by position, each on one printable line whatever text it repeats."""
    lines = {
        Problem(p.file, p.line, p.column, printable(p.message, limit=1000))
        if not p.message.isprintable()
        else p
        for p in problems
    }
    return sorted(lines, key=lambda p: (p.line, p.column, p.message))


# Units whose offsets from one event compare by their numbers alone; an event alone is 0.
_SAME_UNIT_DAYS = {"day": 1, "week": 7}


def _offset(anchor: Any) -> tuple[str, int]:
    """(unit family, signed count) of an anchor's offset from its event."""
    if anchor.offset is None:
        return ("bare", 0)
    unit = anchor.offset.unit
    days = _SAME_UNIT_DAYS.get(unit)
    family = "day" if days else unit
    return family, anchor.sign * anchor.offset.count * (days or 1)


def _never_active(starts: Any, ends: Any) -> bool:
    """Whether `ends` always falls before `starts` (same event, comparable offsets)."""
    if starts.pick is not None or ends.pick is not None or starts.event != ends.event:
        return False
    (start_unit, start_at), (end_unit, end_at) = _offset(starts), _offset(ends)
    units = {start_unit, end_unit}
    # as a stage boundary an event alone is its instant (a date-only one, 00:00 of its
    # day), where day-based boundaries land at 00:00: it compares with days and with hours
    comparable = len(units - {"bare"}) <= 1
    return comparable and end_at < start_at


def journey_warnings(text: str, file: str) -> list[Problem]:
    """What a valid journey probably did not mean (printed by `journeys validate`, which
    still succeeds): a stage that ends before it starts, and hourly recurring work on a
    stage that never ends."""
    data, positions, _, usable = read_document(text, file)
    if not usable:
        return []
    warnings = []
    for s, stage in _items(data.get("stages")):
        loc: Loc = ("stages", s)
        try:
            start_text = stage.get("starts", data.get("start"))
            starts = parse_anchor(start_text) if isinstance(start_text, str) else None
            ends = parse_anchor(stage["ends"]) if isinstance(stage.get("ends"), str) else None
        except ValueError:
            continue
        if starts is not None and ends is not None and _never_active(starts, ends):
            line, col = positions.of((*loc, "ends"))
            message = (
                f"{_where((*loc, 'ends'))}: warning: '{ends}' always falls before "
                f"starts '{starts}': the stage is never active"
            )
            warnings.append(Problem(file, line, col, message))
        if ends is None and "ends" not in stage:
            for o, ob in _items(stage.get("obligations")):
                try:
                    hourly = isinstance(ob.get("every"), str) and (
                        parse_duration(ob["every"]).unit == "hour"
                    )
                except ValueError:
                    continue
                if hourly:
                    where = (*loc, "obligations", o, "every")
                    line, col = positions.of(where)
                    message = (
                        f"{_where(where)}: warning: every {ob['every']} on a stage with no "
                        "'ends': a task every few hours, for ever"
                    )
                    warnings.append(Problem(file, line, col, message))
    return _sorted(warnings)


def json_schema() -> str:
    """The JSON Schema of the language, for editors (yaml-language-server) and tools."""
    schema = Journey.model_json_schema(mode="validation")
    schema["$schema"] = "https://json-schema.org/draft/2020-12/schema"
    return json.dumps(schema, indent=2) + "\n"
