"""On-demand features online: what computing them costs per request, fs's compiled Python
closures against a hand-written DuckDB query in memory over the same rows (the obvious way
to evaluate SQL in process), and sqlglot's own Python executor.

    python benchmarks/bench_on_demand.py [--rounds 15] [--write-docs]

No Redis and no dbt: the values a read would return are made up front, and each method
computes the same expressions from them and the request's fields, for 1 and for 100 entity
rows per request. Two groups: the demo's one expression (scheduled speed), and the 17
expressions of the parity tests (every construct of the language). Methods alternate round
by round; the table gives the median CPU time per request (process_time: steadier than wall
time on a loaded machine) and the ratio to DuckDB. Each method's values are checked equal
first. `--write-docs` replaces the "## On-demand features (issue 14)" section of
docs/benchmarks.md.
"""

from __future__ import annotations

import argparse
import platform
import random
import statistics
import sys
import time
from datetime import datetime, timedelta
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
DOCS = REPO / "docs" / "benchmarks.md"
SECTION = "## On-demand features (issue 14)"

VIEW = {"customer_id": "varchar", "ts": "timestamp", "n": "bigint", "x": "double", "flag": "boolean", "tier": "varchar", "at": "timestamp", "distance": "bigint"}
REQUEST = {"r": "bigint", "q": "double", "s": "varchar", "requested_at": "timestamp", "scheduled_minutes": "bigint"}
DEMO = {"speed": "stats.distance * 60 / scheduled_minutes"}


def catalog(expressions: dict[str, str]):
    from featurestore.catalog.from_manifest import catalog_from_manifest

    columns = {c: {"name": c, "description": "", "data_type": t, "tags": []} for c, t in VIEW.items()}
    view = {
        "unique_id": "model.bench.stats", "resource_type": "model", "name": "stats", "alias": "stats",
        "database": "bench", "schema": "main", "original_file_path": "models/stats.sql",
        "config": {"enabled": True, "meta": {"feature_store": {"entity": "customer", "timestamp": "ts"}}},
        "depends_on": {"nodes": []}, "columns": columns,
    }
    group = {
        "name": "calc", "resource_type": "exposure", "original_file_path": "models/ml.yml",
        "depends_on": {"nodes": ["model.bench.stats"]},
        "config": {"meta": {"feature_store": {"on_demand": {
            "request": REQUEST, "features": [{"name": k, "sql": v} for k, v in expressions.items()]}}}},
    }
    manifest = {"nodes": {view["unique_id"]: view}, "exposures": {"exposure.bench.calc": group}, "parent_map": {}}
    return catalog_from_manifest(manifest)


def rows(count: int, seed: int) -> tuple[list[dict], list[list]]:
    """Entity rows (keys and request fields) and the view values a read would return."""
    rng = random.Random(seed)
    base = datetime(2024, 1, 1)
    entities, values = [], []
    for i in range(count):
        entities.append({
            "customer_id": f"c{i}", "r": rng.randint(-5, 5), "q": rng.choice([0.0, 0.5, 2.0]), "s": rng.choice("ab"),
            "requested_at": base + timedelta(seconds=rng.randint(0, 10**6)), "scheduled_minutes": rng.randint(50, 700),
        })
        values.append([rng.randint(-7, 7), rng.choice([-2.5, 0.5, 3.0, None]), rng.choice([True, False, None]),
                       rng.choice(["a", "b"]), base + timedelta(seconds=rng.randint(0, 10**6)), rng.randint(90, 4000)])
    return entities, values


VIEW_FEATURES = ["n", "x", "flag", "tier", "at", "distance"]


def fs_method(catalog, features):
    """fs's read path minus Redis: read_with_on_demand over values already read."""
    from featurestore.online.on_demand import read_with_on_demand
    from featurestore.online.reader import PRESENT, OnlineFeatures

    selections = catalog.resolve(features)
    on_demand = catalog.resolve_on_demand(features)

    def run(entities, values):
        def read(joined):
            refs = [f.ref for s in joined for f in s.features]
            position = [VIEW_FEATURES.index(ref.split(":")[1]) for ref in refs]
            return OnlineFeatures(
                refs, entities, [[row[p] for p in position] for row in values],
                [[PRESENT] * len(refs) for _ in values], [{"stats": None} for _ in values],
            )

        return read_with_on_demand(read, selections, on_demand, entities).values

    return run


def duckdb_method(catalog, features):
    """Hand-written: one in-memory DuckDB connection; the request's rows as an Arrow table,
    the expressions (transpiled to DuckDB, as the training set runs them) selected over it."""
    import duckdb
    import pyarrow as pa

    from featurestore.sql.expressions import render
    from featurestore.sql.on_demand import RESULT, on_demand_column_expression

    on_demand = catalog.resolve_on_demand(features)
    columns = {("stats", name): name for name in VIEW_FEATURES}
    select = ", ".join(render(on_demand_column_expression(f, columns), "duckdb") for f in on_demand.features)
    connection = duckdb.connect()
    connection.execute("set TimeZone = 'UTC'")
    schema = pa.schema([("n", pa.int64()), ("x", pa.float64()), ("flag", pa.bool_()), ("tier", pa.string()), ("at", pa.timestamp("us")),
                        ("distance", pa.int64()), ("r", pa.int64()), ("q", pa.float64()), ("s", pa.string()),
                        ("requested_at", pa.timestamp("us")), ("scheduled_minutes", pa.int64())])
    sql = f'select {select} from batch as "{RESULT}"'

    def run(entities, values):
        batch = pa.Table.from_pylist(
            [{**dict(zip(VIEW_FEATURES, row)), **entity} for entity, row in zip(entities, values)], schema
        )
        connection.register("batch", batch)
        return [list(row) for row in connection.execute(sql).fetchall()]

    return run


def sqlglot_method(catalog, features):
    """sqlglot's Python executor over the same rows (the transpiled DuckDB expressions)."""
    from sqlglot.executor import execute

    from featurestore.sql.expressions import render
    from featurestore.sql.on_demand import on_demand_column_expression

    on_demand = catalog.resolve_on_demand(features)
    columns = {("stats", name): name for name in VIEW_FEATURES}
    select = ", ".join(render(on_demand_column_expression(f, columns), "duckdb") for f in on_demand.features)
    sql = f'select {select} from batch as "__fs_pit"'

    def run(entities, values):
        table = [{**dict(zip(VIEW_FEATURES, row)), **entity} for entity, row in zip(entities, values)]
        return [list(row) for row in execute(sql, dialect="duckdb", tables={"batch": table}).rows]

    return run


def per_request(run, entities, values, repeat: int) -> float:
    started = time.process_time()
    for _ in range(repeat):
        run(entities, values)
    return (time.process_time() - started) / repeat


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=15)
    parser.add_argument("--write-docs", action="store_true")
    args = parser.parse_args()
    table = []
    sys.path.insert(0, str(REPO))
    from tests.on_demand_cases import EXPRESSIONS as EVERY_CONSTRUCT  # the parity tests' expressions

    for group_name, expressions in [("demo: 1 expression", DEMO), ("17 expressions (every construct)", EVERY_CONSTRUCT)]:
        store = catalog(expressions)
        features = ["calc:*"]
        methods = {"fs (compiled closures)": fs_method(store, features), "DuckDB in memory": duckdb_method(store, features)}
        try:
            methods["sqlglot executor"] = sqlglot_method(store, features)
        except ImportError:
            pass
        for count in (1, 100):
            entities, values = rows(count, seed=count)
            results = {}
            for name, run in methods.items():
                try:
                    results[name] = run(entities, values)
                except Exception as error:  # the executor lacks some functions: say so in the table
                    results[name] = "fails: " + str(error).split(" failed: ")[-1].splitlines()[0][:60]
            agreed = {name: (result == results["DuckDB in memory"]) for name, result in results.items()}
            usable = {name: run for name, run in methods.items() if not isinstance(results[name], str)}
            repeat = max(1, 2000 // (count * len(expressions)))
            timings: dict[str, list[float]] = {name: [] for name in usable}
            for _ in range(args.rounds):
                for name, run in usable.items():  # alternating, round by round
                    timings[name].append(per_request(run, entities, values, repeat))
            reference = statistics.median(timings["DuckDB in memory"])
            for name in methods:
                if name not in usable:
                    table.append((group_name, count, name, results[name], "", ""))
                    continue
                median = statistics.median(timings[name])
                table.append((group_name, count, name, f"{median * 1e6:,.0f} µs", f"{median / reference:.3f}x",
                              "yes" if agreed[name] else "no"))
    header = (
        f"`python benchmarks/bench_on_demand.py`, {datetime.now():%Y-%m-%d}, {platform.python_version()}, "
        f"median of {args.rounds} alternating rounds, CPU time per request (process_time). The values a read "
        "returns are made up front, so this is the cost on-demand features add to a read, not Redis's. "
        "DuckDB's cost is mostly fixed per query (planning, Arrow in and out); fs's grows with entity rows x "
        "expressions, one to three microseconds each. sqlglot's executor cannot run the language (it has no NULLIF)."
    )
    lines = [SECTION, "", header, "", "| group | entity rows | method | CPU per request | / DuckDB | same values as DuckDB |",
             "| --- | --- | --- | --- | --- | --- |"]
    lines += [f"| {g} | {c} | {m} | {t} | {r} | {a} |" for g, c, m, t, r, a in table]
    text = "\n".join(lines) + "\n"
    print(text)
    if args.write_docs:
        docs = DOCS.read_text()
        start = docs.find(SECTION)
        if start < 0:
            docs = docs.rstrip() + "\n\n" + text
        else:
            end = docs.find("\n## ", start + len(SECTION))
            docs = docs[:start] + text + (docs[end + 1:] if end >= 0 else "")
        DOCS.write_text(docs)


if __name__ == "__main__":
    main()
