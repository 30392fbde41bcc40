"""How each side benchmark prints its result: the JSON for a script, a few lines for a person.

One place, so that every `python -m bench.<name> --json` prints the same shape of output.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Callable, Iterable
from typing import Any


def show(
    result: dict[str, Any], as_json: bool, lines: Callable[[dict[str, Any]], Iterable[str]]
) -> None:
    """Print `result` as indented JSON, or as the lines `lines(result)` gives."""
    if as_json:
        json.dump(result, sys.stdout, indent=2)
        print()
        return
    for line in lines(result):
        print(line)
