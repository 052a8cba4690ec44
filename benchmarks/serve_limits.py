"""What one read costs `fs serve` by its number of entities: the measurement behind
FS_SERVE_MAX_ENTITIES' default (featurestore/serve/limits.py).

    python benchmarks/serve_limits.py [--redis-url redis://127.0.0.1:6379/0] [--sizes 1000,10000,...]

The online project of benchmarks/bench_sync.py (10,000 entities x 100 days, three features)
is built and synced under a prefix of its own. Then, per size, a fresh process does what a
worker does with one request of that many entity keys: parse the JSON body, read through
`FeatureStore.get_online_features`, encode Feast's answer (featurestore.serve). It prints the
seconds (median of 3), the answer's size and the process's peak memory (max RSS) over its
size before the request. Keys cycle over the synced entities; the largest size is the
524,288 one-digit keys that fit in 1 MiB (issue 20).
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

from bench_sync import PROJECT, build_project, delete_prefix  # noqa: E402
from reference_data import feature_file  # noqa: E402

FEATURES = ["entity_daily:v1_spend", "entity_daily:v1_clicks", "entity_daily:v1_active"]
ONE_REQUEST = """
import json, resource, statistics, sys, time
from featurestore import FeatureStore
from featurestore.serve.requests import parse_request
from featurestore.serve.responses import dumps, response_document

size, entities, project = int(sys.argv[1]), int(sys.argv[2]), sys.argv[3]
store = FeatureStore(project_dir=project, profiles_dir=project)
store.get_online_features([{"entity_id": 0}], %r)  # connected, catalog read
keys = [i %% entities for i in range(size)] if size < 524288 else [i %% 10 for i in range(size)]
body = json.dumps({"features": %r, "entities": {"entity_id": keys}}).encode()
before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
seconds = []
for _ in range(3):
    started = time.perf_counter()
    rows, names, features, full = parse_request(body)
    answer = dumps(response_document(store.get_online_features(rows, features, bare_names=True), rows, names))
    seconds.append(time.perf_counter() - started)
peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
print(json.dumps({"size": size, "body": len(body), "seconds": statistics.median(seconds), "answer": len(answer), "peak_mb": (peak - before) / 1024}))
""" % (FEATURES, FEATURES)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--redis-url", default=os.environ.get("FS_REDIS_URL", "redis://127.0.0.1:6379/0"))
    parser.add_argument("--entities", type=int, default=10_000)
    parser.add_argument("--sizes", default="1000,10000,50000,150000,524288")
    args = parser.parse_args()

    import redis

    from featurestore import FeatureStore

    build_project(feature_file(1, args.entities, 100))
    prefix = f"fsbench-limits:{os.getpid()}"
    env = {**os.environ, "FS_KEY_PREFIX": prefix, "FS_REDIS_URL": args.redis_url}
    os.environ.update(FS_KEY_PREFIX=prefix, FS_REDIS_URL=args.redis_url)
    client = redis.Redis.from_url(args.redis_url)
    try:
        FeatureStore(project_dir=PROJECT, profiles_dir=PROJECT).sync(full=True)
        rows = []
        for size in map(int, args.sizes.split(",")):
            run = subprocess.run([sys.executable, "-c", ONE_REQUEST, str(size), str(args.entities), str(PROJECT)],
                                 env=env, check=True, capture_output=True, text=True)
            rows.append(json.loads(run.stdout.strip().splitlines()[-1]))
            print(rows[-1], file=sys.stderr)
    finally:
        delete_prefix(client, prefix)
    print(f"`python benchmarks/serve_limits.py`, {time.strftime('%Y-%m-%d')}, {os.cpu_count()} cores, 1-minute load "
          f"{os.getloadavg()[0]:.1f}; parse + read + encode of one request, median of 3:\n")
    print("| entities | body | seconds | answer | peak memory added |\n| --- | --- | --- | --- | --- |")
    for row in rows:
        print(f"| {row['size']:,} | {row['body'] / 1024:,.0f} KiB | {row['seconds']:.2f} s | {row['answer'] / 1e6:.1f} MB | {row['peak_mb']:.0f} MB |")


if __name__ == "__main__":
    main()
