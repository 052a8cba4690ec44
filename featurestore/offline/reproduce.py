"""Running a recorded training set again and saying what changed (`fs training-set
--reproduce RECORD`): the request is rebuilt from the record, run into a scratch output (a
temporary file, or a scratch table dropped after), and the new record compared with the old.

The verdict is the output's: the same rows and content hash is "identical" (exit 0), whatever
else moved (said as notes). A different output is put down to the first cause found, in this
order, each with its exit code (errors.py, docs/cli.md): a model's checksum or version (11),
the spine (12), fs, dbt or the engine, or the SQL they generate (14); with none of those, the
warehouse's data itself (13).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from featurestore.errors import (
    EXIT_REPRODUCED_DATA,
    EXIT_REPRODUCED_ENVIRONMENT,
    EXIT_REPRODUCED_MODEL,
    EXIT_REPRODUCED_SPINE,
    UsageError,
)
from featurestore.offline.request import TrainingSetRequest

SCRATCH_TABLE_SUFFIX = "__fs_reproduce"
CAUSES = {
    "model": EXIT_REPRODUCED_MODEL,
    "spine": EXIT_REPRODUCED_SPINE,
    "environment": EXIT_REPRODUCED_ENVIRONMENT,
    "data": EXIT_REPRODUCED_DATA,
}
"""Each kind of change and the exit code of a different output put down to it, in the order
causes are looked for."""


@dataclass(frozen=True)
class Change:
    kind: str
    """model, spine, environment or data (CAUSES)."""
    text: str


@dataclass
class Reproduction:
    """What `--reproduce` found: whether the output is identical, and every change."""

    record: str
    identical: bool
    rows: tuple[int, int]
    changes: list[Change] = field(default_factory=list)

    @property
    def cause(self) -> str | None:
        """The kind of change the different output is put down to; None when identical."""
        if self.identical:
            return None
        kinds = {change.kind for change in self.changes}
        return next(kind for kind in CAUSES if kind in kinds or kind == "data")

    @property
    def exit_code(self) -> int:
        return 0 if self.identical else CAUSES[self.cause]

    def lines(self) -> list[str]:
        before, after = self.rows
        if self.identical:
            head = f"identical: {after:,} rows with the recorded content hash ({self.record})"
        else:
            head = f"changed ({self.cause}): {before:,} rows recorded, {after:,} now; the content differs ({self.record})"
        return [head, *(f"  {change.kind}: {change.text}" for change in self.changes)]

    def to_dict(self) -> dict[str, Any]:
        return {
            "record": self.record,
            "identical": self.identical,
            "cause": self.cause,
            "exit_code": self.exit_code,
            "rows": {"recorded": self.rows[0], "now": self.rows[1]},
            "changes": [{"kind": c.kind, "text": c.text} for c in self.changes],
        }


def reproduction_request(record: dict[str, Any], scratch: Path, spine: Any = None) -> TrainingSetRequest:
    """The recorded request again, its output redirected to scratch: a file of the same
    format in the folder `scratch`, or a table beside the recorded one."""
    options = record["request"]
    given = options["spine"]
    if "frame" in given and spine is None:
        raise UsageError(
            "the recorded spine was a frame, which the record does not hold: reproduce it in Python, "
            "FeatureStore.reproduce_training_set(record, spine=frame)"
        )
    output = options.get("output")
    table = options.get("output_table")
    return TrainingSetRequest.of(
        spine if spine is not None else given.get("path") or given.get("relation"),
        options["features"],
        spine_sql=given.get("sql") if spine is None else None,
        timestamp_column=options["timestamp_column"],
        full_names=options["full_names"],
        as_of=options["as_of"],
        output=scratch / f"reproduced{Path(output).suffix}" if output else None,
        output_table=f"{table}{SCRATCH_TABLE_SUFFIX}" if table else None,
    )


def compare_records(path: str, old: dict[str, Any], new: dict[str, Any]) -> Reproduction:
    """The verdict on `new` (the reproduction's record) against `old` (the recorded one)."""
    changes = [*_model_changes(old["views"], new["views"]), *_spine_changes(old["spine"], new["spine"])]
    changes += _environment_changes(old["versions"], new["versions"])
    if old["sql"] != new["sql"] and not any(c.kind == "model" for c in changes):
        changes.append(Change("environment", "the generated SQL differs from the recorded SQL"))
    before, after = old["output"], new["output"]
    hashed = before.get("content_hash") is not None and after.get("content_hash") is not None
    identical = before["rows"] == after["rows"] and (before.get("content_hash") == after.get("content_hash") if hashed else old["coverage"] == new["coverage"])
    if not identical and not changes:
        changes.append(Change("data", "no recorded model, spine or version changed: the warehouse's rows did"))
    if not hashed:
        changes.append(Change("data" if not identical else "environment", "the engine computes no content hash: rows and coverage compared"))
    return Reproduction(path, identical, (before["rows"], after["rows"]), changes)


def _model_changes(old: dict, new: dict) -> list[Change]:
    changes = []
    for view, was in old.items():
        now = new.get(view)
        if now is None:
            changes.append(Change("model", f"view {view} is no longer in the request"))
            continue
        model = was.get("unique_id") or view
        if was.get("checksum") != now.get("checksum"):
            changes.append(Change("model", f"model {model} changed: checksum {_short(was.get('checksum'))} -> {_short(now.get('checksum'))}"))
        if was.get("version") != now.get("version"):
            changes.append(Change("model", f"model {model} version {was.get('version')} -> {now.get('version')}"))
    changes += [Change("model", f"view {view} is new in the request") for view in new if view not in old]
    return changes


def _spine_changes(old: dict, new: dict) -> list[Change]:
    keys = ("sha256", "bytes") if old.get("kind") == "file" else ("rows", "content_hash")
    moved = [key for key in keys if old.get(key) != new.get(key)]
    if not moved:
        return []
    said = ", ".join(f"{key} {_short(old.get(key))} -> {_short(new.get(key))}" for key in moved)
    where = old.get("path") or old.get("relation") or old.get("kind")
    return [Change("spine", f"the spine ({where}) changed: {said}")]


def _environment_changes(old: dict, new: dict) -> list[Change]:
    flat_old, flat_new = _flat(old), _flat(new)
    return [
        Change("environment", f"{name} {flat_old.get(name)} -> {flat_new.get(name)}")
        for name in sorted(set(flat_old) | set(flat_new))
        if flat_old.get(name) != flat_new.get(name)
    ]


def _flat(versions: dict) -> dict[str, Any]:
    engine = versions.get("engine") or {}
    return {"fs": versions.get("fs"), "dbt-core": versions.get("dbt"), **{k: v for k, v in engine.items() if k not in ("name", "adapter")}}


def _short(value: Any) -> str:
    text = str(value)
    return text if len(text) <= 20 else text[:20] + "..."


def drop_scratch_table(request: TrainingSetRequest, warehouse: Any) -> None:
    """Drop a reproduction's scratch table (none for a file: its folder is temporary)."""
    from featurestore.sql.expressions import render
    from featurestore.sql.fingerprint import drop_table_expression
    from featurestore.sql.output import output_table_expression

    if request.output_table is None:
        return
    table = output_table_expression(request.output_table, warehouse.target.schema, warehouse.dialect)
    warehouse.execute(render(drop_table_expression(table), warehouse.dialect))
