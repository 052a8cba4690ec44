"""Redis Cluster benchmark: the online store on a 3-primary cluster against a single server,
the same machine, the same server binary, the same run.

    python benchmarks/bench_cluster.py [--entities 1000000] [--write-docs]

Starts, in a temp folder, one single server and one cluster of 3 primaries (no replicas) from
the binary fs itself starts (tests/cluster_server.py), builds benchmarks/online_project over
the reference feature file of `--entities` entities x `--days` days (benchmarks/reference_data.py;
the latest rows are the keys), then, for each of the two, in one process:

1. `fs sync --full` into an empty store;
2. the next day: a new row for every entity, and an incremental `fs sync` that writes every
   row through the server-side compare;
3. `get_online_features` for one entity (p50 over many calls) and for 1,000 entities in one
   call (p50).

Then a projected table for N primaries (docs/benchmarks.md says what it assumes). Both
servers are stopped at the end. `--write-docs` replaces the "## Redis Cluster (issue 23)"
section of docs/benchmarks.md with the tables.
"""

from __future__ import annotations

import argparse
import os
import random
import shutil
import sys
import tempfile
import time
from datetime import datetime, timedelta
from pathlib import Path

from bench_sync import FILES, NEXT_NOW, PROJECT, add_next_day, build_project, percentile, timed, write_section
from reference_data import feature_file

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))  # tests/cluster_server.py
from tests.cluster_server import start_cluster, start_single  # noqa: E402

SECTION = "## Redis Cluster (issue 23)"
SCALING = """What scales with the number of primaries, and what does not:

- **Memory** scales: each primary holds 1/N of the entity keys. The lock and the meta hashes
  are one slot on one node (a few hundred bytes per view).
- **The servers' work** for syncs and reads scales: each entity key lives on one node, and fs
  sends every node its own rows and reads on its own connection, all nodes at once.
- **A sync's client side** does not: one fs process reads the warehouse and frames every row in
  one thread, and on a cluster also computes each key's slot (CRC16, about 1.5 us a key in C
  through Python) and splits the rows by node. Past a few primaries a sync takes fs's own time.
  Here all 3 primaries, fs and DuckDB share 2 cores, so the cluster cannot be faster than one
  server on this machine; the ratios above are what the split costs, not what nodes add.
- **A one-entity read** asks two nodes at once (the meta hash's and the entity's): its latency
  is the slower of two round trips, whatever N.
- **A 1,000-entity read** asks every node at once: the servers' part shrinks with N, fs's part
  (framing the request, decoding 1,000 replies) does not.
- A full sync that replaces a generation waits 2 s before deleting the old one on a cluster (a
  read's safety: docs/online-store.md), once per view."""


def reads(store, url: str, entities: int, calls: int, per_call: int) -> list[float]:
    rng = random.Random(11)
    features = ["entity_daily:*"]
    store.get_online_features([{"entity_id": 0}], features, redis_url=url)  # connect
    samples = []
    for _ in range(calls):
        rows = [{"entity_id": rng.randrange(entities)} for _ in range(per_call)]
        started = time.perf_counter()
        result = store.get_online_features(rows, features, redis_url=url)
        samples.append(time.perf_counter() - started)
        assert "present" in result.statuses[0] or "missing" in result.statuses[0]
    return samples


def server_seconds(node) -> float:
    """Seconds the server spent running commands so far (INFO commandstats, every command)."""
    return sum(stats["usec"] for stats in node.client().info("commandstats").values()) / 1e6


def projection(single: dict, cluster_one_read: float) -> str:
    """The projected table for N primaries (docs/benchmarks.md states the assumptions)."""
    rows = ["| primaries | full sync | incremental sync | memory per node | 1-entity read p50 | 1,000-entity read p50 |",
            "| --- | --- | --- | --- | --- | --- |"]  # fmt: skip
    for n in (1, 3, 6, 12, 24):
        full = single["full"] - single["full_server"] + single["full_server"] / n
        incremental = single["incremental"] - single["incremental_server"] + single["incremental_server"] / n
        thousand = single["thousand"] - single["thousand_server"] + single["thousand_server"] / n
        one = single["one"] if n == 1 else cluster_one_read
        rows.append(
            f"| {n} | {full:.1f} s | {incremental:.1f} s | {single['memory'] / n / 2**20:,.0f} MiB | "
            f"{one * 1e3:.2f} ms | {thousand * 1e3:.1f} ms |"
        )
    return "\n".join(rows)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--entities", type=int, default=1_000_000)
    parser.add_argument("--days", type=int, default=2)
    parser.add_argument("--write-docs", action="store_true")
    args = parser.parse_args()

    from featurestore import FeatureStore

    build_project(feature_file(1, args.entities, args.days))
    os.environ["FS_KEY_PREFIX"] = f"fsbench:{os.getpid()}"
    folder = Path(tempfile.mkdtemp(prefix="fs-bench-cluster-"))
    single = start_single(folder / "single")
    cluster = start_cluster(3, 0)
    targets = {"single server": f"redis://127.0.0.1:{single.port}/0", "3-primary cluster": cluster.url}
    results: dict[str, dict] = {name: {} for name in targets}
    try:
        store = FeatureStore(project_dir=PROJECT, profiles_dir=PROJECT)
        store.catalog()
        # Just after the generated days (the view's ttl is 30 days): every entity is live.
        store.now = lambda: datetime(2024, 1, 1) + timedelta(days=args.days, hours=6)
        for name, url in targets.items():
            print(f"{name}: fs sync --full ...", file=sys.stderr)
            before = server_seconds(single)
            seconds, summary = timed(lambda: store.sync(full=True, redis_url=url))
            results[name].update(full=seconds, keys=summary.total("keys_written"))
            results[name].update(full_server=server_seconds(single) - before, memory=single.client().info("memory")["used_memory"])
            assert results[name]["keys"] > 0 and not summary.failed, summary.to_dict()
            report = store.verify_online(sample=1000, redis_url=url)
            assert not report.mismatches, report.to_dict()["mismatches"][:3]
        updated = add_next_day(args.entities)
        store.now = lambda: NEXT_NOW
        for name, url in targets.items():
            print(f"{name}: fs sync (incremental) ...", file=sys.stderr)
            before = server_seconds(single)
            seconds, summary = timed(lambda: store.sync(redis_url=url))
            results[name].update(incremental_server=server_seconds(single) - before)
            view = summary.views[0]
            assert (view.mode, view.keys_written) == ("incremental", updated), view.to_dict()
            results[name].update(incremental=seconds)
        for name, url in targets.items():
            print(f"{name}: reads ...", file=sys.stderr)
            one = percentile(reads(store, url, args.entities, 3000, 1), 0.5)
            before = server_seconds(single)
            thousand = reads(store, url, args.entities, 100, 1000)
            results[name].update(one=one, thousand=percentile(thousand, 0.5))
            results[name].update(thousand_server=(server_seconds(single) - before) / len(thousand))
        version = single.client().info("server")["redis_version"]
    finally:
        cluster.stop()
        single.process.kill()
        shutil.rmtree(folder, ignore_errors=True)
        (FILES / "next_day.parquet").unlink(missing_ok=True)

    one_server, on_cluster = results["single server"], results["3-primary cluster"]
    keys = one_server["keys"]
    assert on_cluster["keys"] == keys

    def row(label: str, field: str, unit: str, target: str) -> str:
        a, b = one_server[field], on_cluster[field]
        scale = 1e3 if unit == "ms" else 1
        return f"| {label} | {a * scale:.{2 if unit == 's' else 3}f} {unit} | {b * scale:.{2 if unit == 's' else 3}f} {unit} | **{b / a:.2f}x** | {target} |"

    table = "\n".join(
        [
            "| measure | single server | 3-primary cluster | cluster / single | target |",
            "| --- | --- | --- | --- | --- |",
            row(f"`fs sync --full`, {keys:,} keys into an empty store", "full", "s", "within 1.3x"),
            row(f"`fs sync` next day, incremental: {updated:,} rows compared on the server", "incremental", "s", "within 1.3x"),
            row("read, 1 entity, all 3 features: p50 (3,000 calls)", "one", "ms", "within 1.5x"),
            row("read, 1,000 entities in one call: p50 (100 calls)", "thousand", "ms", "within 1.5x"),
        ]
    )
    text = (
        f"{SECTION}\n\n`python benchmarks/bench_cluster.py --entities {args.entities}`, {time.strftime('%Y-%m-%d')}, "
        f"{os.cpu_count()} cores shared with the servers, Python {sys.version.split()[0]}, Redis {version}: "
        "a single server and a cluster of 3 primaries, all on this one machine, started by the benchmark "
        "from the same binary, one run each in the same process.\n\n"
        f"{table}\n\n"
        "Projected for N primaries, each on a host of its own, from the single server's run above "
        "(not measured): the single server's time in Redis commands (INFO commandstats) divided by N, "
        "everything else unchanged; memory is the single server's used_memory divided by N; a one-entity "
        "read is the cluster's measured p50 whatever N (see below).\n\n"
        f"{projection(one_server, on_cluster['one'])}\n\n"
        f"{SCALING}\n"
    )
    print(text)
    if args.write_docs:
        write_section(text, SECTION)


if __name__ == "__main__":
    main()
