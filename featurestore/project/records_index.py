"""The index of a project's training-set records: `.fs/records/index.jsonl`, one JSON line
appended per training set (offline/record.py writes it), read by the feature site to link
each view to the training sets made from it. Below both, so neither reaches into the other."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

RECORDS_FOLDER = Path(".fs") / "records"
INDEX_NAME = "index.jsonl"


def index_path(project_root: Path) -> Path:
    return project_root / RECORDS_FOLDER / INDEX_NAME


def append_to_index(project_root: Path, entry: dict[str, Any]) -> None:
    path = index_path(project_root)
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("a") as handle:  # one short line per run: appends do not interleave
        handle.write(json.dumps(entry) + "\n")


def read_index(project_root: Path) -> list[dict[str, Any]]:
    """Every indexed record, oldest first; a line that is not JSON (a run killed while
    writing it) is skipped, as is a record whose file is gone."""
    path = index_path(project_root)
    if not path.is_file():
        return []
    entries = []
    for line in path.read_text().splitlines():
        try:
            entry = json.loads(line)
        except ValueError:
            continue
        if isinstance(entry, dict) and Path(str(entry.get("record", ""))).is_file():
            entries.append(entry)
    return entries


def training_sets_by_view(entries: list[dict[str, Any]]) -> dict[str, list[dict[str, Any]]]:
    """View name -> the indexed training sets made from it, newest first."""
    found: dict[str, list[dict[str, Any]]] = {}
    for entry in reversed(entries):
        for view in entry.get("views", ()):
            found.setdefault(view, []).append(entry)
    return found
