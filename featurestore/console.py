"""All output of the feature store goes through one Console.

Results (tables, JSON) go to stdout; status, progress, warnings and errors to stderr. Status
and progress show on a terminal and stay quiet in cron (or with quiet=True); warnings and
errors always show.
Domain code receives a Console and never prints.
"""

from __future__ import annotations

import json
import sys
from contextlib import contextmanager
from typing import Any, Callable, Iterator, Sequence


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
        print(json.dumps(data, indent=2, default=str), flush=True)

    def table(self, columns: Sequence[str], rows: Sequence[Sequence[Any]], title: str | None = None) -> None:
        from rich.console import Console as RichConsole
        from rich.table import Table

        table = Table(title=title, title_justify="left", show_lines=False)
        for column in columns:
            table.add_column(column, overflow="fold")
        for row in rows:
            table.add_row(*("" if v is None else str(v) for v in row))
        RichConsole(soft_wrap=False, width=None if sys.stdout.isatty() else 200).print(table)


def _rich_stderr():
    from rich.console import Console as RichConsole

    return RichConsole(stderr=True)
