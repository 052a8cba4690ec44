"""What a training set's record costs (offline/record.py): the demo's training set with and
without its record, for each kind of output, in one process, median of `--repeat` runs.

    python benchmarks/bench_training_set_record.py --project-dir /path/to/built/demo [--repeat 3]

The project must be the demo, loaded and built (`python scripts/load_nycflights13.py` then
`fs build`). The spine is the relation flight_delay_labels, the features the service
flight_delay_model; the record's part is everything `make_record` does: the output's content
hash (its own column), the spine's fingerprint and the manifest's sha256. Prints a markdown
table (docs/reproducibility.md quotes it).
"""

from __future__ import annotations

import argparse
import statistics
import time
from pathlib import Path

from featurestore import FeatureStore
from featurestore.offline.request import TrainingSetRequest
from featurestore.offline.training_set import run_training_set


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--project-dir", type=Path, required=True)
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    store = FeatureStore(project_dir=args.project_dir)
    catalog = store.catalog()
    out = args.project_dir / "target" / "bench_record.parquet"
    print("| output | rows | without record (s) | with record (s) | ratio | of which the output's hash (s) |")
    print("| --- | --- | --- | --- | --- | --- |")
    for kind, output, table in (("file (parquet)", out, None), ("table (DuckDB)", None, "bench_record"), ("rows to Python", None, None)):
        times: dict[bool, list[float]] = {False: [], True: []}
        for _ in range(args.repeat):
            for recorded in (False, True):  # alternated, so that load on the machine falls on both
                request = TrainingSetRequest.of("flight_delay_labels", ["flight_delay_model"], output=output, output_table=table)
                started = time.perf_counter()
                with store.warehouse(read_only=table is None) as warehouse:
                    context = store._record_context() if recorded else None
                    result = run_training_set(request, catalog, warehouse, store.console, context, write=False)
                times[recorded].append(time.perf_counter() - started)
        plain, with_record = statistics.median(times[False]), statistics.median(times[True])
        print(
            f"| {kind} | {result.summary.rows:,} | {plain:.2f} | {with_record:.2f} | {with_record / plain:.2f}x "
            f"| {result.record['output']['hash_seconds']:.2f} |"
        )


if __name__ == "__main__":
    main()
