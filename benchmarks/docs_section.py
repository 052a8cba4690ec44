"""Writing a benchmark's table into docs/benchmarks.md, as its own section."""

from __future__ import annotations

from pathlib import Path


def replace_section(docs: Path, heading: str, text: str) -> None:
    """`text` (starting with `heading`) in place of that section of `docs`, or at its end."""
    existing = docs.read_text()
    start = existing.find(heading)
    if start < 0:
        docs.write_text(existing.rstrip() + "\n\n" + text)
        return
    end = existing.find("\n## ", start + len(heading))
    docs.write_text(existing[:start] + text + (existing[end + 1 :] if end >= 0 else ""))
