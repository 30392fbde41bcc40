"""The journey language (v1) as pydantic models.

A journey is parsed once, at load time, into these immutable models: anchors, durations and
conditions arrive already parsed, and every name they use is checked against the journey's
own declarations (passed in the validation context by the loader). Nothing here reads files
or clocks; the loader (`engine.core.loader`) turns YAML into these models and errors into
`FILE:LINE:COL` messages.
"""

from __future__ import annotations

import difflib
import hashlib
import re
from dataclasses import dataclass
from functools import cached_property
from typing import Annotated, Any, Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    PlainSerializer,
    ValidationInfo,
    WithJsonSchema,
    model_validator,
)
from pydantic_core import PydanticCustomError

from engine.core.calendar import (
    Duration,
    WorkingCalendar,
    check_length,
    get_calendar,
    parse_duration,
)
from engine.core.conditions import Condition, ConditionError, parse_condition
from engine.core.text import printable

ROLES = ("navigator", "team_lead", "programme_lead")
KEBAB = r"^[a-z][a-z0-9]*(-[a-z0-9]+)*$"
SNAKE = r"^[a-z][a-z0-9]*(_[a-z0-9]+)*$"


@dataclass(frozen=True, slots=True)
class Pick:
    """`first of (A, B, ...)` or `last of (A, B, ...)`: one of several anchors.

    `first of` is the earliest of the items that can be worked out, known as soon as any
    can; `last of` is the latest, known only once all of them can. Items are plain anchors
    (`EVENT` or `N UNIT after/before EVENT`). A repeating event is an item only in a
    stage's `ends`, where it stands for its first recording after the episode's start;
    elsewhere each occurrence is planned on its own, so "the first of" its occurrences and
    another event would mean nothing stable.
    """

    which: Literal["first", "last"]
    items: tuple[Anchor, ...]

    def __str__(self) -> str:
        return f"{self.which} of ({', '.join(map(str, self.items))})"


@dataclass(frozen=True, slots=True)
class Anchor:
    """`EVENT`, `DURATION after EVENT` or `DURATION before EVENT`; or, in place of the
    event, a `first of (...)` / `last of (...)` (then `event` is None and `pick` says)."""

    event: str | None
    offset: Duration | None = None
    sign: int = 1
    pick: Pick | None = None

    def __str__(self) -> str:
        base = self.event if self.pick is None else str(self.pick)
        if self.offset is None:
            return base
        return f"{self.offset} {'after' if self.sign > 0 else 'before'} {base}"

    @property
    def events(self) -> tuple[str, ...]:
        """Every event the anchor counts from, in the order written."""
        if self.pick is None:
            return (self.event,)
        return tuple(item.event for item in self.pick.items)

    @property
    def precision(self) -> Literal["day", "hour"]:
        """Hour offsets give exact instants; everything else lands at the end of a day. A
        pick is as exact as its most exact item (it may land on that one)."""
        if self.offset is not None:
            return "hour" if self.offset.unit == "hour" else "day"
        if self.pick is not None and any(i.precision == "hour" for i in self.pick.items):
            return "hour"
        return "day"


_ANCHOR = re.compile(r"^\s*(?:(?P<duration>.+?)\s+(?P<dir>after|before)\s+)?(?P<event>\S+)\s*$")
_PICK = re.compile(
    r"^\s*(?:(?P<duration>.+?)\s+(?P<dir>after|before)\s+)?"
    r"(?P<which>first|last)\s+of\b\s*(?P<rest>.*?)\s*$",
    re.DOTALL,
)
_EXPECTED_ANCHOR = (
    "expected EVENT, 'N UNIT after EVENT', 'N UNIT before EVENT', "
    "or 'first of (A, B)' / 'last of (A, B)'"
)


def parse_anchor(text: str) -> Anchor:
    """Parse an anchor; raises ValueError with a one-line message for programme leads."""
    pick = _PICK.match(text)
    if pick is not None:
        offset, sign = _anchor_offset(pick)
        return Anchor(None, offset, sign, _parse_pick(pick["which"], pick["rest"], text))
    match = _ANCHOR.match(text)
    if not match or not re.match(SNAKE, match["event"]):
        raise ValueError(f"bad anchor '{text}': {_EXPECTED_ANCHOR}")
    offset, sign = _anchor_offset(match)
    return Anchor(match["event"], offset, sign)


def _anchor_offset(match: re.Match[str]) -> tuple[Duration | None, int]:
    if match["duration"] is None:
        return None, 1
    return check_length(parse_duration(match["duration"])), 1 if match["dir"] == "after" else -1


def _parse_pick(which: str, rest: str, text: str) -> Pick:
    """The items of `first of (A, B, ...)`: two or more plain anchors, each once."""
    form = f"{which} of"
    if rest.startswith("(") and ")" not in rest:
        raise ValueError(
            f"bad anchor '{text}': the bracket after '{form}' is not closed (inside {{ }} "
            "or [ ], put the whole anchor in quotes: YAML splits it at each comma)"
        )
    if not (rest.startswith("(") and rest.endswith(")")):
        raise ValueError(
            f"bad anchor '{text}': write the anchors of '{form}' in brackets, "
            f"such as '{form} (charge, no_charge)'"
        )
    inner = rest[1:-1]
    if re.search(r"\b(first|last)\s+of\b", inner):
        raise ValueError(
            f"bad anchor '{text}': '{form}' cannot hold another 'first of' or 'last of': "
            "list all the anchors in one"
        )
    items: list[Anchor] = []
    for part in inner.split(","):
        if not part.strip():
            raise ValueError(
                f"bad anchor '{text}': an empty item in '{form}': separate anchors with one comma"
            )
        match = _ANCHOR.match(part)
        if not match or not re.match(SNAKE, match["event"]):
            raise ValueError(
                f"bad anchor '{part.strip()}' in '{form}': expected EVENT, "
                "'N UNIT after EVENT' or 'N UNIT before EVENT'"
            )
        item = Anchor(match["event"], *_anchor_offset(match))
        if item in items:
            raise ValueError(f"'{item}' is listed twice in '{form}'")
        items.append(item)
    if len(items) < 2:
        raise ValueError(
            f"'{form}' needs at least two anchors to choose from; with one, write it alone"
        )
    return Pick(which, tuple(items))  # type: ignore[arg-type]


@dataclass(frozen=True, slots=True)
class Clock:
    """The working days and time zone dates are counted in (language 1.1, rule 6): the
    journey's, or a stage's or obligation's own, such as England-and-Wales Victims' Code
    duties inside a journey that otherwise counts Romanian working days."""

    calendar: WorkingCalendar
    tz: ZoneInfo
    recorded_in: ZoneInfo  # the journey's zone, in which a date-only event names its day

    @classmethod
    def of(cls, calendar: str, timezone: str, recorded_in: ZoneInfo) -> Clock:
        return cls(get_calendar(calendar), ZoneInfo(timezone), recorded_in)


def rule_error(message: str, *at: str | int) -> PydanticCustomError:
    """A rule spanning a model's fields, broken at the key or item `at` inside the model.

    A plain ValueError from a model validator is located at the whole mapping; carrying
    `at` lets the loader point at the very line that is wrong (the repeated choice, the
    `min` that is above `max`) instead.
    """
    return PydanticCustomError("journey_rule", "{message}", {"message": message, "at": at})


def _declared(info: ValidationInfo, kind: str) -> set[str] | None:
    return (info.context or {}).get(kind)


def _check_event(name: str, info: ValidationInfo) -> None:
    events = _declared(info, "events")
    if events is not None and name not in events:
        known = ", ".join(sorted(events)) or "none"
        raise ValueError(f"unknown event '{name}' (declared events: {known})")


def _to_anchor(value: Any, info: ValidationInfo) -> Anchor:
    return _anchor(value, info, repeating_picks=False)


def _to_end_anchor(value: Any, info: ValidationInfo) -> Anchor:
    """A stage's `ends`: here a repeating event may be an item of `first of`/`last of`,
    because an episode ends at that event's first recording after its start, one instant
    per episode, as when the event is the whole `ends` (`first of (charge, no_charge)`)."""
    return _anchor(value, info, repeating_picks=True)


def _anchor(value: Any, info: ValidationInfo, *, repeating_picks: bool) -> Anchor:
    if isinstance(value, Anchor):
        if value.offset is not None:
            check_length(value.offset)
        return value
    if not isinstance(value, str):
        raise ValueError("expected an anchor such as 'referral' or '14 days after referral'")
    anchor = parse_anchor(value)
    for event in anchor.events:
        _check_event(event, info)
    if anchor.pick is not None and not repeating_picks:
        repeating = _declared(info, "repeating") or set()
        for event in anchor.events:
            if event in repeating:
                raise ValueError(
                    f"'{event}' repeats, so it cannot be in '{anchor.pick.which} of': each "
                    "occurrence is planned on its own (anchor on it alone)"
                )
    return anchor


def _to_duration(value: Any) -> Duration:
    if isinstance(value, Duration):
        return check_length(value)  # built in code, not parsed: the same 10-year cap
    if not isinstance(value, str):
        raise ValueError("expected a duration such as '14 days' or '2 working days'")
    return check_length(parse_duration(value))


def _to_condition(value: Any, info: ValidationInfo) -> Condition:
    if isinstance(value, Condition):
        return value
    if isinstance(value, bool) or not isinstance(value, str):
        raise ValueError("expected a condition such as 'age < 18' or 'not remote_evidence'")
    try:
        return parse_condition(value, _declared(info, "facts"), _declared(info, "fact_types"))
    except ConditionError as error:
        raise ValueError(f"{error.message} (at character {error.column + 1})") from None


def _scalar_default(value: Any) -> Any:
    # One clear message instead of one per member of the union below.
    if value is not None and not isinstance(value, bool | int | str):
        raise ValueError("a default must be true or false, a whole number, or text")
    return value


def _to_roles(value: Any) -> Any:
    return (value,) if isinstance(value, str) else value


def _check_event_name(name: str, info: ValidationInfo) -> str:
    _check_event(name, info)
    return name


def check_timezone(name: str) -> str:
    try:
        ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError, OSError):
        # OSError: zoneinfo opens `name` as a path below its database, so `Europe` (a
        # directory) or a 300-character name fails there, not as "not found"
        shown = name if len(name) <= 40 else name[:40] + "..."
        raise ValueError(
            f"unknown time zone '{shown}' (use an IANA name such as Europe/London)"
        ) from None
    return name


_DURATION_PATTERN = r"^[1-9][0-9]* (hours?|days?|working days?|weeks?|months?)$"
_OFFSET_PATTERN = r"([1-9][0-9]* (hours?|days?|working days?|weeks?|months?) (after|before) )?"
_EVENT_ANCHOR_PATTERN = _OFFSET_PATTERN + r"[a-z][a-z0-9_]*"
_ANCHOR_PATTERN = (
    f"^({_EVENT_ANCHOR_PATTERN}|{_OFFSET_PATTERN}(first|last) of "
    rf"\(({_EVENT_ANCHOR_PATTERN})(, ?{_EVENT_ANCHOR_PATTERN})+\))$"
)

DurationText = Annotated[
    Duration,
    BeforeValidator(_to_duration),
    PlainSerializer(str, return_type=str),
    WithJsonSchema(
        {"type": "string", "pattern": _DURATION_PATTERN, "examples": ["2 working days"]}
    ),
]
_ANCHOR_SCHEMA = WithJsonSchema(
    {
        "type": "string",
        "pattern": _ANCHOR_PATTERN,
        "examples": [
            "14 days after referral",
            "5 working days after first of (charge, no_charge)",
        ],
    }
)
AnchorText = Annotated[
    Anchor, BeforeValidator(_to_anchor), PlainSerializer(str, return_type=str), _ANCHOR_SCHEMA
]
EndAnchorText = Annotated[
    Anchor, BeforeValidator(_to_end_anchor), PlainSerializer(str, return_type=str), _ANCHOR_SCHEMA
]
ConditionText = Annotated[
    Condition,
    BeforeValidator(_to_condition),
    PlainSerializer(lambda c: c.source, return_type=str),
    WithJsonSchema({"type": "string", "examples": ["age < 18 and not remote_evidence"]}),
]
KebabId = Annotated[str, Field(pattern=KEBAB)]
# A title is what navigators see on every task and message: one that is only spaces is as
# useless as none. (`\S` is searched for, in pydantic as in JSON Schema, not matched whole.)
NOT_BLANK = r"\S"
Title = Annotated[str, Field(min_length=1, pattern=NOT_BLANK)]
SnakeName = Annotated[str, Field(pattern=SNAKE)]
EventName = Annotated[str, Field(pattern=SNAKE), AfterValidator(_check_event_name)]
Role = Literal["navigator", "team_lead", "programme_lead"]
CalendarName = Literal["england-and-wales", "scotland", "northern-ireland", "romania"]
TimeZoneName = Annotated[str, AfterValidator(check_timezone)]
Category = Literal[
    "accommodation",
    "health",
    "immigration",
    "employment",
    "finance",
    "legal",
    "contact",
    "court",
    "safety",
    "other",
]
Roles = Annotated[
    tuple[Role, ...],
    BeforeValidator(_to_roles),
    Field(min_length=1),
    WithJsonSchema(
        {
            "anyOf": [
                {"enum": list(ROLES)},
                {"type": "array", "items": {"enum": list(ROLES)}, "minItems": 1},
            ]
        }
    ),
]


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, strict=True)


class Fact(_Model):
    """A case attribute the journey may store and test in `when:`."""

    type: Literal["boolean", "integer", "text", "choice"]
    min: int | None = None
    max: int | None = None
    choices: tuple[str, ...] | None = None
    default: Annotated[bool | int | str | None, BeforeValidator(_scalar_default)] = None
    description: str | None = None

    @model_validator(mode="after")
    def _consistent(self) -> Fact:
        if (self.min is not None or self.max is not None) and self.type != "integer":
            raise ValueError("min and max apply only to integer facts")
        if self.type == "choice" and not self.choices:
            raise ValueError("a choice fact needs a non-empty 'choices' list")
        if self.type != "choice" and self.choices is not None:
            raise ValueError("'choices' applies only to choice facts")
        if self.min is not None and self.max is not None and self.min > self.max:
            raise rule_error(f"min {self.min} is above max {self.max}: no value would fit", "min")
        for i, choice in enumerate(self.choices or ()):
            if choice in self.choices[:i]:
                first = self.choices.index(choice)
                raise rule_error(f"'{choice}' is already a choice (choices[{first}])", "choices", i)
        if self.default is not None:
            self.check(self.default)
        return self

    def check(self, value: object) -> None:
        """Raise ValueError if `value` does not fit the fact's type, range or choices."""
        if self.type == "boolean" and not isinstance(value, bool):
            raise ValueError(f"expected true or false, got {value!r}")
        if self.type == "integer":
            if isinstance(value, bool) or not isinstance(value, int):
                raise ValueError(f"expected a whole number, got {value!r}")
            if self.min is not None and value < self.min:
                raise ValueError(f"{printable(value, 40)} is below the minimum {self.min}")
            if self.max is not None and value > self.max:
                raise ValueError(f"{printable(value, 40)} is above the maximum {self.max}")
        if self.type in ("text", "choice") and not isinstance(value, str):
            raise ValueError(f"expected text, got {value!r}")
        if self.type == "choice" and value not in (self.choices or ()):
            choices = ", ".join(self.choices or ())
            raise ValueError(f"'{printable(value, 40)}' is not one of: {choices}")


def _to_event(value: Any) -> Any:
    """A bare name is a one-off event; anything but a name or a mapping gets one message
    instead of one per shape it could have had."""
    if isinstance(value, str):
        return {"name": value}
    if isinstance(value, dict):
        return value
    raise ValueError("expected an event name, or a mapping such as {name: arrest, repeats: true}")


class Event(_Model):
    """A declared event. One-off (a bare name): the latest recording wins. Repeating
    (`{name: arrest, repeats: true}`): every recording is a new occurrence, numbered from 1,
    and obligations and stages anchored on it are planned once per occurrence."""

    name: SnakeName
    repeats: bool = False
    description: str | None = None


EventEntry = Annotated[
    Event,
    BeforeValidator(_to_event),
    WithJsonSchema(
        {
            "anyOf": [
                {"type": "string", "pattern": SNAKE},
                {
                    "type": "object",
                    "properties": {
                        "name": {"type": "string", "pattern": SNAKE},
                        "repeats": {"type": "boolean"},
                        "description": {"type": "string"},
                    },
                    "required": ["name"],
                    "additionalProperties": False,
                },
            ]
        }
    ),
]


class Escalation(_Model):
    """One rung of an escalation ladder, counted from the due instant."""

    after: DurationText
    notify: Roles
    urgent: bool = False  # sent at once, day or night, instead of waiting for working hours


Outcome = Literal["reached", "not_reached"]  # how a contact task was completed
OUTCOMES: tuple[Outcome, ...] = ("reached", "not_reached")


class FailureEscalation(_Model):
    """Who hears when contact keeps failing: after `count` not_reached completions in a row."""

    count: Annotated[int, Field(ge=1, le=100)]
    notify: Roles


def _named_ladder(value: Any, info: ValidationInfo) -> Any:
    """`escalate: victims-code` names a ladder of the journey's `ladders:`: its steps.

    The ladders are validated before the stages (the field order) and left in the context;
    a ladder with problems of its own gives no steps here, its problems being reported
    where it is written.
    """
    if not isinstance(value, str):
        return value
    context = info.context or {}
    names = context.get("ladders")
    if names is not None and value not in names:
        known = sorted(names)
        close = difflib.get_close_matches(value, known, n=1, cutoff=0.6)
        hint = f"; did you mean '{close[0]}'?" if close else ""
        listed = ", ".join(known) or "none"
        raise ValueError(f"unknown ladder '{printable(value, 40)}' (ladders: {listed}){hint}")
    return context.get("ladder_steps", {}).get(value, ())


EscalateText = Annotated[
    tuple[Escalation, ...],
    BeforeValidator(_named_ladder),
    WithJsonSchema(
        {
            "anyOf": [
                {"type": "string", "pattern": KEBAB, "description": "a ladder of `ladders:`"},
                {"type": "array", "items": Escalation.model_json_schema()},
            ]
        }
    ),
]


def _keep_facts(value: dict[str, Fact], info: ValidationInfo) -> Any:
    """Leave the declared facts in the context, so `when:` (in the stages, validated after)
    is checked against their types. Facts with problems of their own leave none there:
    their conditions are then checked by name only, the facts' problems being reported
    where they are written."""
    if info.context is not None:
        info.context["fact_types"] = value
    return value


def _keep_ladders(value: dict[str, tuple[Escalation, ...]], info: ValidationInfo) -> Any:
    if info.context is not None:
        info.context["ladder_steps"] = value
    return value


Ladder = Annotated[tuple[Escalation, ...], Field(min_length=1)]


class Obligation(_Model):
    """Something the navigator must do: once by `due`, or again and again `every` period."""

    id: KebabId
    title: Title
    category: Category
    tags: tuple[KebabId, ...] = ()  # words for reporting duties, e.g. [victims-code]
    due: AnchorText | None = None
    every: DurationText | None = None
    remind: tuple[DurationText, ...] = ()
    escalate: EscalateText = ()
    when: ConditionText | None = None
    description: str | None = None
    retry: DurationText | None = None  # after a not_reached completion, instead of `every`
    escalate_after_failures: FailureEscalation | None = None
    # whose working days and which zone its dates count in, if not its stage's (language 1.1)
    calendar: CalendarName | None = None
    timezone: TimeZoneName | None = None

    @model_validator(mode="after")
    def _due_or_every(self) -> Obligation:
        if (self.due is None) == (self.every is None):
            raise ValueError("an obligation needs exactly one of 'due' or 'every'")
        return self

    @model_validator(mode="after")
    def _outcomes_apply(self) -> Obligation:
        # Only contact tasks are completed not_reached, and only a recurring obligation has
        # a next attempt: anywhere else these keys could never do anything.
        for key in ("retry", "escalate_after_failures"):
            if getattr(self, key) is None:
                continue
            if self.every is None:
                raise rule_error(f"'{key}' applies only to recurring obligations (every:)", key)
            if self.category != "contact":
                raise rule_error(
                    f"'{key}' needs category contact: only contact tasks are completed not_reached",
                    key,
                )
        return self

    @model_validator(mode="after")
    def _tags_differ(self) -> Obligation:
        for i, tag in enumerate(self.tags):
            if tag in self.tags[:i]:
                first = self.tags.index(tag)
                raise rule_error(f"'{tag}' is already a tag (tags[{first}])", "tags", i)
        return self

    @model_validator(mode="after")
    def _reminders_differ(self) -> Obligation:
        # Two offsets that fire at the same moment send the navigator the same reminder
        # twice (and the second is lost in the sweep's "one reminder at most" rule anyway).
        seen: dict[tuple[str, int], int] = {}
        for i, offset in enumerate(self.remind):
            same = seen.setdefault(_reminder_key(offset), i)
            if same != i:
                first = self.remind[same]
                message = (
                    f"'{offset}' is already a reminder (remind[{same}])"
                    if first == offset
                    else f"'{offset}' fires at the same time as '{first}' (remind[{same}])"
                )
                raise rule_error(message, "remind", i)
        return self

    @property
    def recurring(self) -> bool:
        return self.every is not None


def _reminder_key(offset: Duration) -> tuple[str, int]:
    """Offsets that always fire at the same moment share a key: a week is 7 days."""
    if offset.unit == "week":
        return ("day", offset.count * 7)
    return (offset.unit, offset.count)


class Stage(_Model):
    """A period of the pathway; its obligations are planned once its anchors are known."""

    id: KebabId
    title: Title
    starts: AnchorText | None = None
    ends: EndAnchorText | None = None
    # a stage with nothing to do is a mistake (a stage's obligations pasted elsewhere)
    obligations: tuple[Obligation, ...] = Field(min_length=1)
    description: str | None = None
    # whose working days and which zone its boundaries, and by default its obligations'
    # dates, count in, if not the journey's (language 1.1)
    calendar: CalendarName | None = None
    timezone: TimeZoneName | None = None


class Journey(_Model):
    """One pathway: declarations (facts, events) and stages of obligations."""

    model_config = ConfigDict(
        extra="forbid",
        frozen=True,
        strict=True,
        ignored_types=(cached_property,),
        serialize_by_alias=True,  # `events`, as written, so a dump validates again
        json_schema_extra={"title": "Alongside journey (v1)"},
    )

    journey: KebabId
    title: Title
    description: str | None = None
    calendar: CalendarName
    timezone: TimeZoneName
    start: EventName
    # before `stages`, whose conditions are checked against the facts' types
    facts: Annotated[dict[SnakeName, Fact], AfterValidator(_keep_facts)] = {}
    # Named escalation ladders, for `escalate: NAME`; before `stages`, which use them.
    ladders: Annotated[dict[KebabId, Ladder], AfterValidator(_keep_ladders)] = {}
    # Written `events:`; `events` (below) is the names, as everything reading a journey
    # wants them, and this the declarations, with which of them repeat.
    declared_events: tuple[EventEntry, ...] = Field(alias="events", min_length=1)
    stages: tuple[Stage, ...] = Field(min_length=1)

    @model_validator(mode="after")
    def _start_is_one_off(self) -> Journey:
        if self.start in self.repeating:
            i = self.events.index(self.start)
            raise rule_error(
                f"'{self.start}' opens the case, so it happens once: it cannot repeat",
                "events",
                i,
                "repeats",
            )
        return self

    @cached_property
    def version(self) -> str:
        """Content hash of the meaning (not the comments), so edits that matter are visible."""
        digest = hashlib.sha256(self.model_dump_json().encode()).hexdigest()
        return digest[:12]

    @cached_property
    def events(self) -> tuple[str, ...]:
        """The declared events' names, in the order written."""
        return tuple(event.name for event in self.declared_events)

    @cached_property
    def repeating(self) -> frozenset[str]:
        """The repeating events: each recording is a new occurrence."""
        return frozenset(event.name for event in self.declared_events if event.repeats)

    @cached_property
    def tz(self) -> ZoneInfo:
        return ZoneInfo(self.timezone)

    def clock(self, id: str) -> Clock:
        """The clock a stage's boundaries, or an obligation's dates, count on, by id."""
        return self._clocks[id]

    @cached_property
    def _clocks(self) -> dict[str, Clock]:
        """Each stage's and obligation's clock: its own `calendar:` and `timezone:`, else
        its stage's, else the journey's (stage and obligation ids share one namespace)."""
        clocks = {}
        for stage in self.stages:
            calendar = stage.calendar or self.calendar
            tz = stage.timezone or self.timezone
            clocks[stage.id] = Clock.of(calendar, tz, self.tz)
            for ob in stage.obligations:
                clocks[ob.id] = Clock.of(ob.calendar or calendar, ob.timezone or tz, self.tz)
        return clocks

    @cached_property
    def obligations(self) -> dict[str, tuple[Stage, Obligation]]:
        """Every obligation by id, with its stage."""
        return {ob.id: (stage, ob) for stage in self.stages for ob in stage.obligations}

    @cached_property
    def alerting(self) -> dict[str, tuple[Obligation, Clock]]:
        """The obligations with reminders or a ladder, by id, with their clocks: the others'
        tasks never alert (four in ten of the shipped journeys' tasks)."""
        return {
            id: (ob, self.clock(id))
            for id, (_, ob) in self.obligations.items()
            if ob.remind or ob.escalate
        }

    def stage_start(self, stage: Stage) -> Anchor:
        return stage.starts or Anchor(self.start)

    def stage_title(self, stage_id: str) -> str:
        """The title navigators know a stage by; the id itself for a stage no longer here."""
        return self._stage_titles.get(stage_id, stage_id)

    @cached_property
    def _stage_titles(self) -> dict[str, str]:
        return {stage.id: stage.title for stage in self.stages}
