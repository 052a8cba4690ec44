"""The `fs` command line: the typer app (app.py), the options every command shares
(options.py), and how results are shown to people and programs (render_*.py)."""

from featurestore.cli.app import main

__all__ = ["main"]
