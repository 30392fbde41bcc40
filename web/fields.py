"""The small parts of a form field that every field repeats (its error message and its
`aria-describedby`, as template globals written in Python), and the dicts a form's
errors and values are given to templates in.

Why not Jinja macros: My work renders four of them for each of up to forty tasks, and a
macro call cost more than the rest of a task's markup (profiled at 100,000 cases); its
case filter lists every case with open work (two hundred for a busy navigator).
"""

from __future__ import annotations

from collections.abc import Iterable

from markupsafe import Markup, escape


def field_error(id: str, error: str | None) -> Markup:
    """A field's error message in GOV.UK Frontend's markup, or nothing."""
    if not error:
        return Markup("")
    return Markup(
        f'<p id="{escape(id)}-error" class="govuk-error-message">'
        f'<span class="govuk-visually-hidden">Error:</span> {escape(error)}</p>'
    )


def described(id: str, hint: object, error: object) -> Markup:
    """` aria-describedby="…"` naming a field's hint and error, when it has either."""
    ids = [f"{id}-hint"] if hint else []
    if error:
        ids.append(f"{id}-error")
    if not ids:
        return Markup("")
    return Markup(f' aria-describedby="{escape(" ".join(ids))}"')


def select_options(options: Iterable[tuple[object, object]], selected: object) -> Markup:
    """A select's `<option>`s from (value, text) pairs, the `selected` value marked."""
    return Markup("\n").join(
        Markup(
            f'<option value="{escape(value)}"{" selected" if value == selected else ""}>'
            f"{escape(text)}</option>"
        )
        for value, text in options
    )


class Blank(dict):
    """A form's errors or values, in which a field not given reads as `default`: a
    template looks a field up by subscript (`errs["note"]`), which Jinja2 answers from
    the dict at once, not by a method call (`errs.get("note")`), which cost a quarter of
    each task's markup on My work (a dozen lookups for each of up to forty tasks)."""

    default: object = None

    def __missing__(self, key: object) -> object:
        return self.default


class BlankText(Blank):
    """Values typed into a form: a field not given is empty."""

    default = ""


class ErrorsByTask(dict):
    """Each task's field errors (`Blank`); a task without any has none."""

    def __missing__(self, key: object) -> Blank:
        return Blank()


GLOBALS = {"field_error": field_error, "described": described, "select_options": select_options}
