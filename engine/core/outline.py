"""Journeys in words and diagrams, for programme leads reviewing a pathway."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from engine.core.journey import Escalation, Journey, Obligation, Stage
from engine.core.planner import PlannedTask


def _roles(roles: tuple[str, ...]) -> str:
    return " and ".join(r.replace("_", " ") for r in roles)


def _deadline(journey: Journey, ob: Obligation) -> str:
    if ob.every is not None:
        return f"every {ob.every}, one at a time, while the stage is active"
    each = ", for each occurrence" if ob.due.event in journey.repeating else ""
    return f"due {ob.due}{each}"


def _stage_window(journey: Journey, stage: Stage) -> str:
    start = journey.stage_start(stage)
    text = f"starts {start}"
    if start.event in journey.repeating:
        text += " (again at each occurrence)"
    return f"{text}, ends {stage.ends}" if stage.ends else text


def outline(journey: Journey) -> str:
    """A readable outline: stages, obligations, deadlines in words, escalation ladders."""
    lines = [
        f"{journey.title} ({journey.journey} v{journey.version})",
        f"calendar {journey.calendar}, time zone {journey.timezone}, opens on '{journey.start}'",
    ]
    if journey.facts:
        facts = ", ".join(f"{name} ({fact.type})" for name, fact in journey.facts.items())
        lines.append(f"facts: {facts}")
    events = (f"{e.name} (repeats)" if e.repeats else e.name for e in journey.declared_events)
    lines.append(f"events: {', '.join(events)}")
    for stage in journey.stages:
        lines += ["", f"{stage.title} [{stage.id}]: {_stage_window(journey, stage)}"]
        for ob in stage.obligations:
            lines.append(f"  - {ob.title} [{ob.id}, {ob.category}]: {_deadline(journey, ob)}")
            clock = journey.clock(ob.id)
            if (clock.calendar.name, clock.tz.key) != (journey.calendar, journey.timezone):
                lines.append(f"      counted on {clock.calendar.name} working days, {clock.tz.key}")
            if ob.description:
                lines.append(f"      guidance: {' '.join(ob.description.split())}")
            if ob.when is not None:
                lines.append(f"      only when {ob.when.source}")
            if ob.remind:
                before = ", ".join(str(d) for d in ob.remind)
                lines.append(f"      remind the navigator {before} before")
            ladder = _ladder_name(journey, ob.escalate)
            if ladder is not None:
                lines.append(f"      escalation ladder '{ladder}':")
            for step in ob.escalate:
                lines.append(f"      {step.after} overdue: tell the {_roles(step.notify)}")
            if ob.retry is not None:
                lines.append(f"      not reached: try again {ob.retry} later")
            if ob.escalate_after_failures is not None:
                failures = ob.escalate_after_failures
                lines.append(
                    f"      not reached {failures.count} times in a row: "
                    f"tell the {_roles(failures.notify)}"
                )
    return "\n".join(lines)


def _ladder_name(journey: Journey, steps: tuple[Escalation, ...]) -> str | None:
    """The name of the journey's ladder with these steps, if any: `escalate: NAME` is
    replaced by the ladder's steps as the journey is read, and a reader of the outline
    wants the name they wrote."""
    return next((name for name, rungs in journey.ladders.items() if steps and rungs == steps), None)


def _label(text: str) -> str:
    """Text safe inside a quoted Mermaid label."""
    return (
        text.replace("&", "#amp;").replace('"', "#quot;").replace("<", "#lt;").replace(">", "#gt;")
    )


def mermaid_diagram(journey: Journey) -> str:
    """A Mermaid flowchart: events feed the stages they start and end.

    Every edge runs from an event to a stage (solid where it starts the stage, dotted where
    it ends it), so the picture reads left to right with no loops back.
    """
    lines = ["flowchart LR"]
    for event in journey.events:
        lines.append(f'  ev_{event}(["{event}"])')
    for stage in journey.stages:
        node = f"st_{stage.id.replace('-', '_')}"
        count = len(stage.obligations)
        noun = "obligation" if count == 1 else "obligations"
        lines.append(f'  {node}["{_label(stage.title)}<br/>{count} {noun}"]')
        start = journey.stage_start(stage)
        for event in dict.fromkeys(start.events):
            lines.append(f'  ev_{event} -->|"starts: {start}"| {node}')
        for event in dict.fromkeys(stage.ends.events if stage.ends else ()):
            lines.append(f'  ev_{event} -.->|"ends: {stage.ends}"| {node}')
    return "\n".join(lines)


def _gantt_text(text: str) -> str:
    """Text safe as a Mermaid Gantt task or section name (`:` and `#` are syntax there)."""
    return text.replace(":", " -").replace("#", "no.").replace(";", ",")


def plan_gantt(journey: Journey, tasks: Sequence[PlannedTask], now: datetime) -> str:
    """A simulated plan as a Mermaid Gantt chart: stages as sections, each task a milestone
    on its due date, the local day in its own obligation's time zone (rule 6): a Victims'
    Code duty due at 23:59:59 London time is drawn on that London day, even in a journey
    whose other work counts in Bucharest."""
    lines = [
        "gantt",
        f"  title {_gantt_text(journey.title)}: plan as at {now.astimezone(journey.tz):%Y-%m-%d}",
        "  dateFormat YYYY-MM-DD",
        "  axisFormat %d %b %Y",
    ]
    for stage in journey.stages:
        mine = [t for t in tasks if t.stage == stage.id]
        if not mine:
            continue
        lines.append(f"  section {_gantt_text(stage.title)}")
        for number, task in enumerate(sorted(mine, key=lambda t: (t.due, t.obligation)), 1):
            title = task.title + (f" ({task.occurrence})" if task.occurrence > 1 else "")
            day = task.due.astimezone(journey.clock(task.obligation).tz).date().isoformat()
            node = f"{stage.id.replace('-', '_')}_{number}"
            lines.append(f"  {_gantt_text(title)} :milestone, {node}, {day}, 0d")
    return "\n".join(lines)
