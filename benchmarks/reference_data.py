"""The contract's reference data shape, generated with DuckDB into parquet files (cached in
benchmarks/data/, which git ignores).

- a feature view: `entities` x `days` daily rows (about one in ten missing, so entities differ
  in their latest day), unique per (entity_id, event_timestamp);
- the same view sorted by time (feature_file_by_time);
- a spine: `rows` labelled events at random seconds over the same days.
"""

from __future__ import annotations

import sys
from pathlib import Path

DATA = Path(__file__).resolve().parent / "data"
START = "2024-01-01"


def feature_file(view: int, entities: int = 100_000, days: int = 100) -> Path:
    """View number `view` (its values and missing rows differ per view)."""
    return _generated(
        DATA / f"features_v{view}_{entities}x{days}.parquet",
        f"""
                select
                    e.range as entity_id,
                    timestamp '{START}' + to_days(cast(d.range as integer)) as event_timestamp,
                    (hash(e.range, d.range, {view}) % 10000) / 100.0 as v{view}_spend,
                    cast(hash(e.range, d.range, {view}, 1) % 50 as bigint) as v{view}_clicks,
                    hash(e.range, d.range, {view}, 2) % 3 = 0 as v{view}_active
                from range({entities}) e, range({days}) d
                where hash(e.range, d.range, {view}, 9) % 10 <> 0
                order by entity_id, event_timestamp""",
    )


def feature_file_by_time(view: int, entities: int = 100_000, days: int = 100) -> Path:
    """feature_file(view)'s rows sorted by time (then entity), as a date-partitioned or
    incrementally built table lies: each row group holds a few days, so its min/max
    statistics let a scan skip by time."""
    source = feature_file(view, entities, days)
    return _generated(
        DATA / f"features_v{view}_{entities}x{days}_by_time.parquet",
        f"select * from read_parquet('{source}') order by event_timestamp, entity_id",
    )


def spine_file(rows: int = 1_000_000, entities: int = 100_000, days: int = 100) -> Path:
    return _generated(
        DATA / f"spine_{rows}_{entities}x{days}.parquet",
        f"""
                select
                    cast(hash(i.range, 1) % {entities} as bigint) as entity_id,
                    timestamp '{START}' + to_seconds(cast(hash(i.range, 2) % ({days} * 86400) as bigint))
                        as event_timestamp,
                    hash(i.range, 3) % 5 = 0 as label
                from range({rows}) i""",
    )


def spine_subset(name: str, where: str, rows: int = 1_000_000, entities: int = 100_000, days: int = 100) -> Path:
    """The rows of spine_file(...) that satisfy `where` (a part of its time range or of its
    entities), in their order."""
    spine = spine_file(rows, entities, days)
    return _generated(
        DATA / f"spine_{rows}_{entities}x{days}_{name}.parquet",
        f"select * from read_parquet('{spine}') where {where} order by file_row_number".replace(
            f"read_parquet('{spine}')", f"read_parquet('{spine}', file_row_number = true)"
        ).replace("select *", "select entity_id, event_timestamp, label"),
    )


def _generated(path: Path, query: str) -> Path:
    """`path`, written from `query` by DuckDB the first time it is asked for."""
    import duckdb

    if not path.is_file():
        DATA.mkdir(parents=True, exist_ok=True)
        print(f"generating {path.name} ...", file=sys.stderr)
        duckdb.execute(f"copy ({query}) to '{path}' (format parquet)")
    return path
