"""The `fs` command line: the typer app (app.py), the options every command shares
(options.py), and how results are shown to people and programs (render_*.py)."""

from __future__ import annotations

__all__ = ["main"]


def main(argv: list[str] | None = None) -> None:
    """Entry point of `fs` (app.main), with the garbage collector paused while it starts
    (cli/startup.py)."""
    from featurestore.cli import startup

    startup.pause()
    from featurestore.cli.app import main as run

    run(argv)
