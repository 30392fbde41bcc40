"""Charts as accessible SVG, rendered on the server: Vega-Lite specifications drawn by
`vl-convert` (the Vega project's own renderer, with no browser and no network).

A chart is an image with a title and a description (`role="img"`, `<title>`, `<desc>`);
its figures are in the table the page puts beside it, which is the accessible equivalent,
so the marks inside carry no ARIA of their own (Vega's group roles are taken off: an
image's parts are not read out). Vega writes colours and fonts as SVG
presentation attributes, not `style`, so the strict Content Security Policy (no inline
style, no script) holds with the SVG inline in the page.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from html import escape
from itertools import count

from markupsafe import Markup

# Colours that keep at least 3:1 against white and against each other's neighbours.
PALETTE = ["#1d70b8", "#d4351c", "#00703c", "#4c2c92", "#b58840", "#28a197"]
WIDTH, HEIGHT = 420, 240
_ids = count(1)
_ROOT = re.compile(r"<svg\b[^>]*>")
_INNER_ARIA = re.compile(r' (?:role|aria-[a-z]+)="[^"]*"')


def bars(
    title: str,
    description: str,
    categories: Sequence[str],
    series: Sequence[tuple[str, Sequence[float | int | None]]],
    *,
    percent: bool = False,
) -> Markup:
    """Bars per category (grouped when there are several series); a missing value is no
    bar. `percent`: the values are shares from 0 to 1, shown as percentages."""
    import vl_convert

    values = [
        {"category": c, "series": name, "value": v}
        for name, figures in series
        for c, v in zip(categories, figures, strict=True)
        if v is not None
    ]
    names = [name for name, _ in series]
    y = {
        "field": "value",
        "type": "quantitative",
        "title": "Share" if percent else "Number",
        "axis": {"format": ".0%" if percent else "d", "tickMinStep": 0.1 if percent else 1},
    }
    if percent:
        y["scale"] = {"domain": [0, 1]}
    spec = {
        "$schema": "https://vega.github.io/schema/vega-lite/v5.json",
        "width": WIDTH,
        "height": HEIGHT,
        "data": {"values": values},
        "mark": {"type": "bar"},
        "encoding": {
            "x": {
                "field": "category",
                "type": "nominal",
                "sort": list(categories),
                "title": None,
                "axis": {"labelAngle": 0},
            },
            "y": y,
            "color": {
                "field": "series",
                "type": "nominal",
                "sort": names,
                "scale": {"domain": names, "range": PALETTE[: len(names)]},
                "legend": {"orient": "bottom", "title": None, "columns": 2}
                if len(names) > 1
                else None,
            },
            **({"xOffset": {"field": "series", "sort": names}} if len(names) > 1 else {}),
        },
        "config": {
            "aria": False,
            "font": "system-ui, sans-serif",
            "axis": {"labelColor": "#0b0c0c", "titleColor": "#0b0c0c", "labelFontSize": 12},
            "legend": {"labelColor": "#0b0c0c", "labelFontSize": 12, "labelLimit": 0},
            "view": {"stroke": None},
        },
    }
    return _accessible(vl_convert.vegalite_to_svg(vl_spec=spec), title, description)


def _accessible(svg: str, title: str, description: str) -> Markup:
    """The SVG as an image with a name and a description, scaling to its column."""
    number = next(_ids)
    title_id, desc_id = f"chart-{number}-title", f"chart-{number}-desc"
    root = _ROOT.search(svg)
    if root is None:
        raise ValueError("the renderer gave no SVG")
    attributes = dict(re.findall(r'([\w:-]+)="([^"]*)"', root.group(0)))
    width, height = attributes.get("width", str(WIDTH)), attributes.get("height", str(HEIGHT))
    head = (
        f'<svg xmlns="http://www.w3.org/2000/svg" class="app-chart__svg" role="img" '
        f'viewBox="0 0 {width} {height}" width="{width}" height="{height}" '
        f'aria-labelledby="{title_id} {desc_id}" focusable="false">'
        f'<title id="{title_id}">{escape(title)}</title>'
        f'<desc id="{desc_id}">{escape(description)}</desc>'
    )
    return Markup(head + _INNER_ARIA.sub("", svg[root.end() :]))
