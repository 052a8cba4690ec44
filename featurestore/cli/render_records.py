"""How `fs training-set --reproduce` shows its verdict: a line, a line per change, and the
exit code of the change the output is put down to (offline/reproduce.py)."""

from __future__ import annotations

from typing import TYPE_CHECKING

import typer

if TYPE_CHECKING:
    from featurestore.console import Console
    from featurestore.offline.reproduce import Reproduction


def show_reproduction(result: "Reproduction", console: "Console", as_json: bool = False) -> None:
    if as_json:
        console.json(result.to_dict())
    else:
        for line in result.lines():
            console.print(line)
    if result.exit_code:
        raise typer.Exit(result.exit_code)
