"""CSV that a spreadsheet opens as data, never as formulas (issue 12, OWASP "CSV Injection").

A text cell that begins with ``=``, ``+``, ``-``, ``@``, a tab or a carriage return is run as a
formula by Excel and LibreOffice (``=HYPERLINK(...)`` in a roster name or an action's free-text
"by"). Such a cell is written with a leading ``'``, which the spreadsheet shows as text; numbers
stay numbers. Every cell is quoted when it holds a separator, quote or newline (csv's own rule).
"""

from __future__ import annotations

import csv
from collections.abc import Iterable
from typing import Any, TextIO

FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


def cell(value: Any) -> Any:
    if isinstance(value, str) and value.startswith(FORMULA_START):
        return "'" + value
    return value


class _Writer:
    def __init__(self, f: TextIO) -> None:
        self._w = csv.writer(f)

    def writerow(self, row: Iterable[Any]) -> Any:
        return self._w.writerow([cell(v) for v in row])


def writer(f: TextIO) -> _Writer:
    """``csv.writer(f)`` whose rows are neutralised with :func:`cell`."""
    return _Writer(f)
