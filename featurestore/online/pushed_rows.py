"""Rows pushed to a view (`fs push`, `FeatureStore.push`), read and checked against the view
before anything is written.

Accepted: a pandas or polars DataFrame, a pyarrow Table or RecordBatch, a list of dicts, a
dict of columns (name -> list of values: the `df` of an HTTP push), or the path of a parquet
or CSV file. The rows must carry the view's join keys, its timestamp and every feature;
created_at, when the view declares one, is optional and defaults to the moment of the push
(that is when the row became known); other columns of the view's relation are optional
(null). Each column is cast to the type the warehouse gives it, and only safely: a text
column where the view has numbers, an int too large for the column, or a value that would
lose precision is refused, naming the column. Text read from a file or a request (CSV, JSON
columns) is parsed by the view's column types first, by Arrow's own parsers (ISO-8601 for
time), so `007` stays text for a text key and `2024-02-27T10:00:00` becomes a timestamp;
time with `Z` or an offset is converted to UTC, from every input.
Keys and timestamps must not be null; float values must be finite (NaN and infinities are
refused: JSON cannot carry them to a reader, and a missing value is a null); no two rows may
share their join keys, timestamp and created_at (the warehouse and Redis would each pick
another of them). Nothing here writes.
"""

from __future__ import annotations

import os
from collections import Counter
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any, Mapping, Sequence

from featurestore.errors import UsageError, did_you_mean, first_line
from featurestore.online.codec import logical_type
from featurestore.online.value_columns import check_columns

if TYPE_CHECKING:
    import pyarrow as pa

    from featurestore.catalog import FeatureView

ACCEPTED_FRAMES = (
    "a pandas or polars DataFrame, a pyarrow Table or RecordBatch, a list of dicts, a dict of columns, "
    "or a .parquet or .csv path"
)

ACCEPTED_TYPES: dict[str, tuple[str, ...]] = {
    "int": ("int",),
    "float": ("float", "int"),
    "decimal": ("decimal", "int"),
    "bool": ("bool",),
    "str": ("str",),
    "timestamp": ("timestamp", "date"),
    "date": ("date",),
}
"""The view column's logical type -> the logical types a pushed column may have for it (a
null-only column fits any)."""

FILE_FORMATS = (".parquet", ".csv")

CSV_NULLS = ["", "NULL", "null"]
"""The CSV fields read as null."""

TEXT_FORMS = {
    "timestamp": "ISO-8601 text such as 2024-02-27T10:00:00 (UTC) or 2024-02-27T12:00:00+02:00, all with or all without an offset",
    "date": "ISO-8601 dates such as 2024-02-27",
    "decimal": "decimal text such as 12.50",
}
"""The view column's logical types that columns of plain values (JSON's) give as text -> the
text taken for them."""


def load_rows(source: Any, types: Mapping[str, "pa.DataType"]) -> "pa.Table":
    """`source` (see the module's docstring) as an Arrow table. A CSV file is read with the
    view's column `types`, so its text is parsed as the warehouse holds it."""
    import pyarrow as pa

    if isinstance(source, (str, os.PathLike)):
        return _read_file(Path(source), types)
    if isinstance(source, pa.Table):
        return source
    if isinstance(source, pa.RecordBatch):
        return pa.Table.from_batches([source])
    if isinstance(source, (list, tuple)) and all(isinstance(row, Mapping) for row in source):
        return _converted(lambda: pa.Table.from_pylist(list(source)), "the list of rows")
    if isinstance(source, Mapping):
        return _from_columns(source, types)
    module = type(source).__module__.split(".")[0]
    if module == "pandas":
        return _converted(lambda: pa.Table.from_pandas(source, preserve_index=False), "the pandas DataFrame")
    if module == "polars":
        return source.to_arrow()
    raise UsageError(f"cannot push a {type(source).__name__}; push takes {ACCEPTED_FRAMES}")


def _converted(convert, what: str) -> "pa.Table":
    import pyarrow as pa

    try:
        return convert()
    except (pa.ArrowInvalid, pa.ArrowTypeError) as error:
        raise UsageError(f"cannot read {what} as typed columns: {first_line(error)}") from error


def _from_columns(columns: Mapping[str, Any], types: Mapping[str, "pa.DataType"]) -> "pa.Table":
    """Columns of plain values (numbers, text, booleans, nulls: what JSON holds), each typed by
    its values; text where the view has a timestamp, a date or a decimal is parsed as that
    type, as a CSV file's text is."""
    import pyarrow as pa

    check_columns(columns, "the rows' columns", "column", "row")
    arrays = {}
    for name, values in columns.items():
        try:
            array = pa.array(values)
        except (pa.ArrowInvalid, pa.ArrowTypeError, OverflowError) as error:
            # Mixed kinds of values (a number among text), or an int beyond 64 bits.
            raise UsageError(f"the rows' column '{name}' does not hold values of one type: {first_line(error)}") from error
        target = types.get(name)
        if target is not None and logical_type(array.type) == "str" and logical_type(target) in TEXT_FORMS:
            array = _parsed_text(name, array, target)
        arrays[name] = array
    return pa.table(arrays)


def _parsed_text(name: str, text: "pa.Array", target: "pa.DataType") -> "pa.Array":
    """`text` (of a dict of columns or a CSV file) as the view's `target` type, by Arrow's
    cast: the ISO-8601 parser its CSV reader uses. fs keeps time as naive UTC, so a timestamp with a Z or an offset is read as UTC and
    converted (validated_rows drops the zone)."""
    import pyarrow as pa

    attempts = [target]
    if pa.types.is_timestamp(target) and target.tz is None:
        attempts.append(pa.timestamp(target.unit, "UTC"))
    failures = []
    for attempt in attempts:
        try:
            return text.cast(attempt)
        except (pa.ArrowInvalid, pa.ArrowNotImplementedError) as error:
            failures.append(error)
    # The first failure names the value that does not parse as the view's own type.
    raise UsageError(
        f"the rows' column '{name}' does not read as {target}: {first_line(failures[0])} "
        f"(valid: {TEXT_FORMS[logical_type(target) or '']})"
    ) from failures[-1]


def _read_file(path: Path, types: Mapping[str, "pa.DataType"]) -> "pa.Table":
    import pyarrow as pa
    import pyarrow.compute as pc
    import pyarrow.csv as pa_csv
    import pyarrow.parquet as pq

    suffix = path.suffix.lower()
    if suffix not in FILE_FORMATS:
        raise UsageError(f"cannot push {path}: its suffix is not one of {', '.join(FILE_FORMATS)}")
    if not path.is_file():
        raise UsageError(f"cannot push {path}: no such file")
    try:
        if suffix == ".parquet":
            return pq.read_table(path)
        # Timestamps are read as text and parsed as a dict of columns' are, so an offset is
        # converted to UTC whatever the input (Arrow's CSV reader refuses it for a naive type).
        times = {name: target for name, target in types.items() if pa.types.is_timestamp(target) and target.tz is None}
        read_types = {name: pa.string() if name in times else target for name, target in types.items()}
        # Only an empty field or NULL is null: `nan` or `NA` in a number column must not
        # become a silent null (it reads as NaN, refused by validated_rows, or fails to parse).
        options = pa_csv.ConvertOptions(column_types=read_types, null_values=CSV_NULLS)
        table = pa_csv.read_csv(path, convert_options=options)
    except (pa.ArrowInvalid, pa.ArrowTypeError, OSError) as error:
        raise UsageError(f"cannot read {path}: {first_line(error)}") from error
    for index, name in enumerate(table.column_names):
        if name in times:
            text = table[name].combine_chunks()
            text = pc.if_else(pc.is_in(text, value_set=pa.array(CSV_NULLS)), pa.scalar(None, pa.string()), text)
            table = table.set_column(index, name, _parsed_text(name, text, times[name]))
    return table


def validated_rows(
    view: "FeatureView",
    rows: "pa.Table",
    types: Mapping[str, "pa.DataType"],
    pushed_at: datetime,
    values: Sequence[str] | None = None,
    events: bool = False,
) -> "pa.Table":
    """`rows` with each column cast to the view's type, created_at filled in with `pushed_at`
    where the view declares one and the rows lack it. Raises UsageError, naming the view,
    the column and what is valid, at the first problem. `values`: the value columns every
    row needs (default: the view's features); `events`: the rows are events (of an
    aggregation view), which may tie on keys and times."""
    import pyarrow as pa
    import pyarrow.compute as pc

    where = f"push to view '{view.name}'"
    twice = sorted(name for name, count in Counter(rows.column_names).items() if count > 1)
    if twice:
        raise UsageError(f"{where}: column '{twice[0]}' is given twice")
    unknown = [name for name in rows.column_names if name not in types]
    if unknown:
        raise UsageError(
            f"{where}: '{unknown[0]}' is not a column of {view.relation}; {did_you_mean(unknown[0], types)}"
        )
    required = [*view.join_keys, view.timestamp, *(view.feature_names if values is None else values)]
    missing = [name for name in required if name not in rows.column_names]
    if missing:
        needed = "every aggregated column" if events else "every feature of the view"
        raise UsageError(
            f"{where}: the rows lack column(s) {', '.join(missing)} (needed: the join keys, the timestamp "
            f"and {needed})"
        )
    columns = {name: _cast(where, name, rows[name], types[name]) for name in rows.column_names}
    for name in (*view.join_keys, view.timestamp):
        nulls = columns[name].null_count
        if nulls:
            first = pc.index(pc.is_null(columns[name]), True).as_py()
            raise UsageError(
                f"{where}: {nulls} row(s) have a null {name} (first at row index {first}); "
                "join keys and the timestamp must not be null"
            )
    for name, values in columns.items():
        _check_finite(where, name, values)
    if view.created_at and view.created_at not in columns:
        # The row becomes known now: a training set before the push must not see it.
        columns[view.created_at] = pa.array([pushed_at] * rows.num_rows, pa.timestamp("us")).cast(types[view.created_at])
    table = pa.table(columns)
    if not events:
        _check_unique(where, view, table)
    return table


def knowledge_time(view: "FeatureView", rows: "pa.Table") -> "pa.ChunkedArray":
    """When each row became known: its created_at or, where that is null (or the view has
    none), its timestamp; the tie-break of the warehouse's latest row and of the Redis writer."""
    import pyarrow as pa
    import pyarrow.compute as pc

    timestamps = rows[view.timestamp].cast(pa.timestamp("us"))
    if not view.created_at:
        return timestamps
    return pc.coalesce(rows[view.created_at].cast(pa.timestamp("us")), timestamps)


def _check_finite(where: str, name: str, values: "pa.ChunkedArray") -> None:
    import pyarrow as pa
    import pyarrow.compute as pc

    if not pa.types.is_floating(values.type):
        return
    bad = pc.invert(pc.fill_null(pc.is_finite(values), True))
    if pc.any(bad).as_py():
        first = pc.index(bad, True).as_py()
        raise UsageError(
            f"{where}: column '{name}' holds {values[first].as_py()} at row index {first}; "
            "valid: finite numbers, or null for a missing value"
        )


def _check_unique(where: str, view: "FeatureView", rows: "pa.Table") -> None:
    """Refuse rows that repeat (join keys, timestamp, knowledge time): Redis would keep the
    last of them and the warehouse's latest-row query any one, so the two would disagree."""
    import pyarrow.compute as pc

    if rows.num_rows < 2:
        return
    identity = [*view.join_keys, view.timestamp]
    keyed = rows.select(identity).append_column("__known", knowledge_time(view, rows))
    counts = keyed.group_by([*identity, "__known"]).aggregate([([], "count_all")])
    repeated = counts.filter(pc.greater(counts["count_all"], 1))
    if repeated.num_rows == 0:
        return
    first = repeated.slice(0, 1).to_pylist()[0]
    shown = ", ".join(f"{name}={_shown(first[name])}" for name in identity)
    more = f" (and {repeated.num_rows - 1:,} more such repeat(s))" if repeated.num_rows > 1 else ""
    raise UsageError(
        f"{where}: {first['count_all']} rows have {shown}{more}; the rows must not repeat their "
        "join keys, timestamp and created_at: push one row per entity and time"
    )


def _shown(value: Any) -> str:
    return value.isoformat() if isinstance(value, datetime) else str(value)


def _cast(where: str, name: str, values: "pa.ChunkedArray", target: "pa.DataType") -> "pa.ChunkedArray":
    import pyarrow as pa

    if values.type == target or pa.types.is_null(values.type):
        return values.cast(target)
    wanted, given = logical_type(target), logical_type(values.type)
    if wanted is None or given not in ACCEPTED_TYPES[wanted]:
        valid = ", ".join(ACCEPTED_TYPES[wanted]) if wanted else str(target)
        raise UsageError(f"{where}: column '{name}' is {given or values.type}, which does not fit its type {target} (valid: {valid})")
    try:
        return values.cast(target, safe=True)
    except (pa.ArrowInvalid, pa.ArrowNotImplementedError) as error:
        raise UsageError(f"{where}: column '{name}' does not fit its type {target}: {first_line(error)}") from error
