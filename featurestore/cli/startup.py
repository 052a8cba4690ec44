"""The `fs` process's start-up: Python's cyclic garbage collector waits while fs and its
libraries load. What loads then (modules, typer's commands, sqlglot's dialects, DuckDB's
Python layer) lives as long as the process, yet each collection during the load walks it
again for nothing: 0.04 CPU s of the 0.4 s a one-row `fs training-set` costs
(docs/benchmarks.md, "Training sets over part of a view"). Collection resumes once the
command has its FeatureStore, before it reads any data, with what was loaded frozen
(gc.freeze: later collections do not walk it either, as `fs serve` does after its start).
Only `fs` itself pauses it (`main()` with no argv): fs imported by a program or a test, or its
main(argv) called in their process, leaves their collector alone; a command that fails before
it has a FeatureStore resumes it on the way out."""

from __future__ import annotations

import gc

_paused = False


def pause() -> None:
    """Pause collection for the start-up (`fs`'s main only)."""
    global _paused
    if gc.isenabled():
        gc.disable()
        _paused = True


def resume() -> None:
    """Resume collection if `pause` paused it, what was loaded until now frozen; else nothing."""
    global _paused
    if _paused:
        _paused = False
        gc.freeze()
        gc.enable()
