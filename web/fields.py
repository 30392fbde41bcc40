"""The small parts of a form field that every field repeats: its error message and its
`aria-describedby`, as template globals written in Python.

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


GLOBALS = {"field_error": field_error, "described": described, "select_options": select_options}
