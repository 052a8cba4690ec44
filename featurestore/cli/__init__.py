"""The `fs` command line: the typer app (app.py), the options every command shares
(options.py), and how results are shown to people and programs (render_*.py)."""

from __future__ import annotations

__all__ = ["main"]


def main(argv: list[str] | None = None) -> None:
    """Entry point of `fs` (app.main). As the process's own entry (no argv: the `fs` script),
    the garbage collector is paused while it starts (cli/startup.py); a program or test that
    calls main(argv) in its own process keeps its collector as it is."""
    from featurestore.cli import startup

    if argv is None:
        startup.pause()
    try:
        from featurestore.cli.app import main as run

        run(argv)
    finally:
        startup.resume()  # a command that failed before its FeatureStore: nothing else ends it
