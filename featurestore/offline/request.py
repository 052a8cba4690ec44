"""What a training set is asked for: the one request type behind `fs training-set` and
`FeatureStore.training_set`, with every check of its options in one place."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Sequence

from featurestore.engines.local_files import FORMAT_OF_SUFFIX
from featurestore.errors import UsageError

DEFAULT_TIMESTAMP_COLUMN = "event_timestamp"
KNOWLEDGE, EVENT_TIME = "knowledge", "event-time"
AS_OF_MODES = (KNOWLEDGE, EVENT_TIME)
"""knowledge: a view's created_at is a cut-off (no leakage); event-time: it is ignored."""


@dataclass(frozen=True)
class SpineInput:
    """The spine as the user gave it: exactly one of path, relation, sql or frame."""

    path: Path | None = None
    relation: str | None = None
    sql: str | None = None
    frame: Any = None
    timestamp_column: str = DEFAULT_TIMESTAMP_COLUMN

    def describe(self) -> str:
        if self.path is not None:
            return f"spine file {self.path}"
        if self.relation is not None:
            return f"spine relation '{self.relation}'"
        if self.sql is not None:
            return "spine query"
        return "spine frame"


@dataclass(frozen=True)
class TrainingSetRequest:
    spine: SpineInput
    features: tuple[str, ...]
    full_names: bool = False
    as_of: str = KNOWLEDGE
    output_path: Path | None = None
    output_table: str | None = None

    def __post_init__(self) -> None:
        if self.as_of not in AS_OF_MODES:
            raise UsageError(f"--as-of '{self.as_of}' is not a mode; valid: {', '.join(AS_OF_MODES)}")
        if self.output_path is not None and self.output_path.suffix.lower() not in FORMAT_OF_SUFFIX:
            raise UsageError(
                f"--output {self.output_path}: unknown format '{self.output_path.suffix}'; valid: .parquet, .csv"
            )
        if self.output_path is not None and self.output_table is not None:
            raise UsageError("give --output or --output-table, not both")

    @property
    def event_time_only(self) -> bool:
        return self.as_of == EVENT_TIME

    @property
    def returns_rows(self) -> bool:
        """Whether the rows come back to the caller rather than going to a file or table."""
        return self.output_path is None and self.output_table is None

    @classmethod
    def of(
        cls,
        spine: Any = None,
        features: Sequence[str] = (),
        *,
        spine_sql: str | None = None,
        timestamp_column: str = DEFAULT_TIMESTAMP_COLUMN,
        full_names: bool = False,
        as_of: str = KNOWLEDGE,
        output: str | os.PathLike | None = None,
        output_table: str | None = None,
    ) -> "TrainingSetRequest":
        """A request from the arguments of `FeatureStore.training_set` (and of the CLI).

        `spine` is a parquet/CSV path, a dbt model or relation name, or a pandas/polars/Arrow
        frame (or use `spine_sql`); `features` holds `view:feature`, `view:*` or feature
        service names. With `output` (.parquet/.csv) or `output_table` the rows go there;
        otherwise the result holds them.
        """
        return cls(
            spine=spine_input(spine, spine_sql, timestamp_column),
            features=tuple(features),
            full_names=full_names,
            as_of=as_of,
            output_path=Path(output).expanduser().resolve() if output is not None else None,
            output_table=output_table,
        )


def spine_input(spine: Any, spine_sql: str | None, timestamp_column: str) -> SpineInput:
    """Interpret the user's spine argument: a frame, a file path, or a model/relation name."""
    if spine_sql is not None:
        if spine is not None:
            raise UsageError("give the spine either as --spine or as --spine-sql, not both")
        return SpineInput(sql=spine_sql, timestamp_column=timestamp_column)
    if spine is None:
        raise UsageError("no spine given: pass --spine FILE|MODEL or --spine-sql QUERY")
    if not isinstance(spine, (str, Path)):
        return SpineInput(frame=spine, timestamp_column=timestamp_column)
    text = str(spine)
    # Relation names never hold a path separator; dotted names (schema.table) are not files.
    looks_like_path = "/" in text or "\\" in text or isinstance(spine, Path)
    if looks_like_path or Path(text).suffix.lower() in FORMAT_OF_SUFFIX or Path(text).exists():
        return SpineInput(path=Path(text).expanduser().resolve(), timestamp_column=timestamp_column)
    return SpineInput(relation=text, timestamp_column=timestamp_column)
