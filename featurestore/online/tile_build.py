"""The tiles of a sync, computed column-wise with Arrow: grouped aggregates per (entity, tile)
for each tile size, and each tile's JSON text (featurestore.online.tiles) built by joining
text columns, so no Python runs per tile.

A tile's text is `[events, [n, sum, min, max, mean, m2, "last_ts", "last_known", last], ...]`.
Arrow writes a float without a fraction as an integer (`2` for 2.0): the reader turns a float
column's values back into floats (tiles.finish). Text values are JSON-escaped here; the rare
text with a control character is escaped by Python's json.
"""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any

from featurestore.online.tiles import NUMERIC, SECOND_US, TileLayout

if TYPE_CHECKING:
    import pyarrow as pa

QUOTED = frozenset({"str", "timestamp", "date", "decimal"})
"""Logical types whose values a tile holds as JSON strings (decimals: JSON has no exact one)."""


def tile_rows(work: "pa.Table", layout: TileLayout) -> list["pa.Table"]:
    """Every tile of the events in `work` (columns entity, ts_us, ts, known, v0, v1, ...,
    sorted by entity and ts_us): per tile size, a table of entity, field and text, sorted by
    entity."""
    import pyarrow as pa
    import pyarrow.compute as pc

    # Only what the view's functions read: the rest of a tile is null (0.0 for mean and m2).
    functions = [{f for _, f, read in layout.features if read.column == i} for i in range(len(layout.columns))]
    ranked = [_ranked(work, i) if "last" in functions[i] else None for i in range(len(layout.columns))]
    ts_us = work["ts_us"].combine_chunks().to_numpy()
    parts = []
    for size in layout.sizes_us:
        start = pa.array(((ts_us - 1) // size) * size, pa.int64())
        # Groups come out in no promised order: each result is sorted by (entity, start).
        order = [("entity", "ascending"), ("start", "ascending")]
        main: list[Any] = [([], "count_all")]
        for i, logical in enumerate(layout.logicals):
            v, wanted = f"v{i}", functions[i]
            main += [(v, "count"), *[(v, f) for f in ("min", "max") if f in wanted]]
            if logical in NUMERIC and wanted & {"sum", "avg"}:
                main.append((v, "sum"))
            if logical in NUMERIC and "stddev" in wanted:
                main += [(v, "mean"), (v, "variance", pc.VarianceOptions(ddof=0))]
        columns = ["entity", *[f"v{i}" for i in range(len(layout.columns))]]
        grouped = work.select(columns).append_column("start", start).group_by(["entity", "start"], use_threads=False).aggregate(main).sort_by(order)
        texts = [pc.cast(grouped["count_all"], pa.string())]
        for i, logical in enumerate(layout.logicals):
            last = None
            if ranked[i] is not None:
                lasts = ranked[i][0].append_column("start", pa.array(((ranked[i][1] - 1) // size) * size, pa.int64()))
                # Ordered (use_threads=False), so `last` takes the last row of each group.
                last = lasts.group_by(["entity", "start"], use_threads=False).aggregate([(f"v{i}", "last"), ("t", "last"), ("k", "last")])
                last = last.sort_by(order)
            texts.append(_partial_text(grouped, last, i, logical))
        text = pc.binary_join_element_wise("[", pc.binary_join_element_wise(*texts, ","), "]", "")
        seconds = size // SECOND_US
        when = pc.replace_substring(grouped["start"].cast(pa.timestamp("us")).cast(pa.timestamp("s")).cast(pa.string()), " ", "T")
        field = pc.binary_join_element_wise(f"{seconds}s@", when, "")
        parts.append(pa.table({"entity": grouped["entity"], "field": field, "text": text}))
    return parts


def _ranked(work: "pa.Table", i: int) -> tuple["pa.Table", Any]:
    """The events sorted for column i's `last`: by suffix, time, knowledge time and value,
    with the times null where the value is, so an ordered `last` takes the greatest."""
    import pyarrow as pa
    import pyarrow.compute as pc

    v = f"v{i}"
    valid = pc.is_valid(work[v])
    nothing = pa.nulls(len(work), pa.string())
    table = pa.table({
        "entity": work["entity"], "ts_us": work["ts_us"], v: work[v],
        "t": pc.if_else(valid, work["ts"], nothing), "k": pc.if_else(valid, work["known"], nothing),
    })
    table = table.sort_by([("entity", "ascending"), ("ts_us", "ascending"), ("k", "ascending"), (v, "ascending")])
    return table.drop_columns(["ts_us"]), table["ts_us"].combine_chunks().to_numpy()


def _partial_text(grouped: "pa.Table", last: "pa.Table | None", i: int, logical: str) -> "pa.Array":
    """Column i's partial aggregate of each tile as a JSON list (null where not computed)."""
    import pyarrow as pa
    import pyarrow.compute as pc

    v = f"v{i}"
    names = set(grouped.column_names)

    def value(name: str, kind: str) -> "pa.Array | str":
        return _json(grouped[name], kind) if name in names else "null"

    def number(array: "pa.Array") -> "pa.Array":
        return pc.fill_null(pc.cast(array, pa.float64()).cast(pa.string()), "0.0")

    stddev = f"{v}_variance" in names
    words = [
        pc.cast(grouped[f"{v}_count"], pa.string()),
        value(f"{v}_sum", logical),
        value(f"{v}_min", logical),
        value(f"{v}_max", logical),
        number(grouped[f"{v}_mean"]) if stddev else "0.0",
        number(pc.multiply(grouped[f"{v}_variance"], pc.cast(grouped[f"{v}_count"], pa.float64()))) if stddev else "0.0",
        _json(last["t_last"], "timestamp_text") if last is not None else "null",
        _json(last["k_last"], "timestamp_text") if last is not None else "null",
        _json(last[f"{v}_last"], logical) if last is not None else "null",
    ]
    return pc.binary_join_element_wise("[", pc.binary_join_element_wise(*words, ","), "]", "")


def _json(values: "pa.Array", logical: str) -> "pa.Array":
    """Each value as JSON text; null as `null`."""
    import pyarrow as pa
    import pyarrow.compute as pc

    from featurestore.online.codec import encode_array

    values = values.combine_chunks() if isinstance(values, pa.ChunkedArray) else values
    if logical == "bool":
        text = pc.if_else(values, "true", "false")
    elif logical == "str":
        text = _quoted(values)
    elif logical == "timestamp_text":  # ISO-8601 already: nothing to escape
        text = pc.binary_join_element_wise('"', values, '"', "")
    elif logical in QUOTED:  # ISO-8601 or decimal text: nothing to escape
        text = pc.binary_join_element_wise('"', encode_array(values, logical), '"', "")
    else:
        text = values.cast(pa.float64()).cast(pa.string()) if logical == "float" else values.cast(pa.string())
    return pc.fill_null(text, "null")


def _quoted(texts: "pa.Array") -> "pa.Array":
    import pyarrow as pa
    import pyarrow.compute as pc

    escaped = pc.replace_substring(pc.replace_substring(texts, "\\", "\\\\"), '"', '\\"')
    quoted = pc.binary_join_element_wise('"', escaped, '"', "")
    control = pc.fill_null(pc.match_substring_regex(texts, "[\\x00-\\x1f]"), False)
    if not pc.any(control).as_py():
        return quoted
    return pa.array([json.dumps(t) if c else q for t, q, c in zip(texts.to_pylist(), quoted.to_pylist(), control.to_pylist())], pa.string())
