"""All output of the feature store goes through one Console.

Results (tables, JSON) go to stdout; status, progress, warnings, hints and errors to stderr.
Status and progress show on a terminal and stay quiet in cron (or with quiet=True); warnings,
hints and errors always show.
Domain code receives a Console and never prints.
"""

from __future__ import annotations

import io
import json
import math
import os
import shutil
import sys
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any, Callable, Iterator, Sequence


def finite_json(document: Any) -> Any:
    """`document` with each NaN or infinite float as protobuf's JSON text of it (`"NaN"`,
    `"Infinity"`, `"-Infinity"`): JSON has no such numbers, and Python's bare `NaN` makes a
    strict reader (JavaScript's JSON.parse, Go, Java) refuse the whole document.

    >>> finite_json({"values": [1.5, float("nan"), [float("-inf")]]})
    {'values': [1.5, 'NaN', ['-Infinity']]}
    """
    if isinstance(document, float):
        if math.isfinite(document):
            return document
        return "NaN" if math.isnan(document) else ("Infinity" if document > 0 else "-Infinity")
    if isinstance(document, dict):
        return {key: finite_json(value) for key, value in document.items()}
    if isinstance(document, (list, tuple)):
        return [finite_json(value) for value in document]
    return document


class Console:
    def __init__(self, verbose: bool | None = None, debug: bool = False):
        self.verbose = sys.stderr.isatty() if verbose is None else verbose
        self.debug = debug
        self._stderr_is_tty = sys.stderr.isatty()

    # -- status (stderr, terminals only) ---------------------------------------------------
    def info(self, message: str) -> None:
        if self.verbose:
            print(message, file=sys.stderr, flush=True)

    def detail(self, text: str) -> None:
        """Long diagnostic text (a tool's full log): only with --debug."""
        if self.debug and text:
            print(text, file=sys.stderr, flush=True)

    def warn(self, message: str) -> None:
        """Something the user should fix that does not stop the command: shown even in cron."""
        self._labelled("warning", "33", message)

    def hint(self, message: str) -> None:
        """Advice that changes no result (how to make something faster): shown even in cron,
        where the run it would speed up happens."""
        self._labelled("hint", "36", message)

    def error(self, message: str) -> None:
        self._labelled("error", "31", message)

    def _labelled(self, label: str, colour: str, message: str) -> None:
        shown = f"\x1b[{colour}m{label}:\x1b[0m" if self._stderr_is_tty else f"{label}:"
        print(f"{shown} {message}", file=sys.stderr, flush=True)

    @contextmanager
    def progress(self, description: str, total: int | None = None) -> Iterator[Callable[[int], None]]:
        """A progress bar on a terminal; yields `advance(n)`. Silent elsewhere."""
        if not (self.verbose and self._stderr_is_tty):
            yield lambda n: None
            return
        from rich.progress import (
            BarColumn,
            MofNCompleteColumn,
            Progress,
            SpinnerColumn,
            TextColumn,
            TimeElapsedColumn,
        )

        columns = [SpinnerColumn(), TextColumn("{task.description}")]
        if total:
            columns += [BarColumn(), MofNCompleteColumn()]
        columns.append(TimeElapsedColumn())
        with Progress(*columns, transient=True, console=_rich_stderr()) as bar:
            task = bar.add_task(description, total=total)
            yield lambda n: bar.advance(task, n)

    # -- results (stdout) ---------------------------------------------------------------------
    def print(self, text: str = "") -> None:
        print(text, flush=True)

    def json(self, data: Any) -> None:
        """`data` as strict JSON (a NaN or infinite float as its text, see `finite_json`)."""
        print(json.dumps(finite_json(data), indent=2, default=str, allow_nan=False), flush=True)

    def table(
        self,
        columns: Sequence[str],
        rows: Sequence[Sequence[Any]],
        title: str | None = None,
        shorten: Sequence[str] = (),
        wrap: Sequence[str] = (),
        optional: Sequence[str] = (),
    ) -> None:
        """A table as wide as the output (see `width`). Columns named in `shorten` are cut to
        one line ending in an ellipsis, those in `wrap` wrap at spaces; every other column is
        shown whole on one line, since a name broken in two cannot be copied. When that is
        still too wide, the `optional` columns are left out, first named first, and a line
        says so."""
        from rich import box
        from rich.console import Console as RichConsole
        from rich.table import Table

        cells = [["" if v is None else str(v) for v in row] for row in rows]
        layout = _Layout.of(columns, cells, self.width(), shorten, wrap, optional)
        table = Table(title=title, title_justify="left", box=box.SIMPLE_HEAD, show_edge=False, pad_edge=False)
        for i in layout.kept:
            column = columns[i]
            if i in layout.limits:
                short = column in shorten
                table.add_column(column, no_wrap=short, overflow="ellipsis" if short else "fold", max_width=layout.limits[i])
            else:
                table.add_column(column, no_wrap=True, min_width=layout.naturals[i])
        for row in cells:
            table.add_row(*(row[i] for i in layout.kept))
        rich = RichConsole(file=io.StringIO(), width=layout.width, force_terminal=sys.stdout.isatty(), soft_wrap=False)
        rich.print(table)
        # Lines padded to the table's width are noise in a log or a diff.
        self.print("\n".join(line.rstrip() for line in rich.file.getvalue().splitlines()))
        if layout.dropped:
            self.print(f"(left out to fit {layout.room} columns: {', '.join(columns[i] for i in layout.dropped)})")

    @staticmethod
    def width() -> int | None:
        """The width tables fit: $COLUMNS when set (as shells set it, and as a pipe's reader
        may), else the terminal's; None when piped with no $COLUMNS (as wide as they are)."""
        columns = os.environ.get("COLUMNS", "")
        if columns.isdigit() and int(columns) > 0:
            return int(columns)
        if sys.stdout.isatty():
            return shutil.get_terminal_size().columns
        return None


MIN_SHARE = 12
"""The narrowest a shortened or wrapped column gets: below it, a description says nothing."""
GAP = 3
"""Columns are apart by their padding (1 each side) and a blank rule."""


@dataclass(frozen=True)
class _Layout:
    """Which columns a table shows and how wide, for a given room (None: no limit)."""

    naturals: list[int]
    room: int | None
    kept: list[int]
    dropped: list[int]
    limits: dict[int, int]
    """Flexible (shortened or wrapped) column -> its width."""

    @property
    def width(self) -> int:
        return sum(self.naturals[i] if i not in self.limits else self.limits[i] for i in self.kept) + GAP * (len(self.kept) - 1)

    @classmethod
    def of(cls, columns, cells, room, shorten, wrap, optional) -> "_Layout":
        from rich.cells import cell_len

        naturals = [max([cell_len(c), *(cell_len(row[i]) for row in cells)]) for i, c in enumerate(columns)]
        flexible = {i for i, c in enumerate(columns) if c in shorten or c in wrap}
        kept, dropped = list(range(len(columns))), []

        def needed() -> int:
            return sum(min(naturals[i], MIN_SHARE) if i in flexible else naturals[i] for i in kept) + GAP * (len(kept) - 1)

        for column in optional:
            if room is None or needed() <= room:
                break
            dropped.append(columns.index(column))
            kept.remove(columns.index(column))
        flex = [i for i in kept if i in flexible]
        fixed = sum(naturals[i] for i in kept if i not in flexible) + GAP * (len(kept) - 1)
        shares = _shares([naturals[i] for i in flex], None if room is None else room - fixed)
        return cls(naturals, room, kept, dropped, dict(zip(flex, shares)))


def _shares(naturals: list[int], room: int | None) -> list[int]:
    """Widths for flexible columns: as wide as they are when they fit in `room`, else the
    narrow ones whole and the rest an equal share of what is left (at least MIN_SHARE)."""
    if room is None or sum(naturals) <= room:
        return list(naturals)
    shares = list(naturals)
    left, count = room, len(naturals)
    for index in sorted(range(len(naturals)), key=naturals.__getitem__):
        shares[index] = max(min(MIN_SHARE, naturals[index]), min(naturals[index], left // count))
        left, count = left - shares[index], count - 1
    return shares


def plural(count: int, noun: str, many: str | None = None) -> str:
    """`plural(1, "feature")` -> "1 feature", `plural(2_000, "row")` -> "2,000 rows"."""
    return f"{count:,} {noun if count == 1 else many or noun + 's'}"


def _rich_stderr():
    from rich.console import Console as RichConsole

    return RichConsole(stderr=True)
