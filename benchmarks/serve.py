"""Serving benchmark: `fs serve` against Feast's own feature server (`feast serve`) over the
same data in the same Redis, and the in-process read against one raw redis-py HMGET.

    python benchmarks/serve.py [--redis-url redis://127.0.0.1:6379/0] [--seconds 10] [--rounds 3] [--write-docs]

1. Data: the reference feature file (benchmarks/reference_data.py) for `--entities` entities x
   100 days; the dbt project of benchmarks/online_project is built over it and `fs sync --full`
   copies the latest row of every entity (three features) into Redis under a prefix of its own.
2. In process: `FeatureStore.get_online_features` for one entity against one raw redis-py
   `HMGET` of the same hash (the hash fs wrote; text back, nothing decoded), in alternating
   blocks of calls; p50 of each and their ratio (the contract: within 1.5x).
3. Feast 0.67 is installed from the package registry into benchmarks/.feast-venv (git ignores
   it), a feature repo in benchmarks/.feast-repo declares the same view, and `feast
   materialize` writes the same latest rows into the same Redis (Feast's keys carry its
   project name, which is this run's own).
4. Both servers run with the same number of workers, without access logs (Feast also without
   its default worker restart every 1,000 requests); `wrk` (Debian's package, C) sends
   Feast-shaped POSTs of random entities over loopback, time- and count-bounded, at
   concurrency 1, 8 and 32 with 1 and 100 entities per request. The same request body goes
   to both: the view and feature names are the same. Runs alternate fs / Feast (the first of
   each pair alternating by round), and the table reports medians over `--rounds`, with the
   machine's load average over the runs. Before the runs, both servers must give the same
   values for the same entities, and a Feast client configured with Feast's `remote` online
   store pointed at fs serve must read what Feast's own store gives it (`--check-only` stops
   there).

`--against-source DIR` replaces Feast by `fs serve` run from another checkout of fs (for
example the base commit of a change, `git archive <commit> | tar -x -C DIR`): the same runs,
the same project and Redis, so a change's effect on serving is a ratio measured in one run.

Every key it writes is deleted at the end (`feast teardown` for Feast's). `--write-docs`
replaces the "## Serving (issue 14)" section of docs/benchmarks.md with the tables.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

from bench_sync import PROJECT, build_project, delete_prefix, percentile, write_section  # noqa: E402
from reference_data import feature_file  # noqa: E402

SECTION = "## Serving (issue 14)"
FEAST_VERSION = "0.67.0"
FEAST_VENV = HERE / ".feast-venv"
FEAST_REPO = HERE / ".feast-repo"
FEATURES = ["entity_daily:v1_spend", "entity_daily:v1_clicks", "entity_daily:v1_active"]
CONCURRENCY = (1, 8, 32)
PER_REQUEST = (1, 100)
NOW = "2024-04-10T06:00:00"  # the online project's clock (feature_store.yml)

FEAST_DEFINITIONS = """
from datetime import timedelta

from feast import Entity, FeatureView, Field, FileSource
from feast.types import Bool, Float64, Int64

entity = Entity(name="entity", join_keys=["entity_id"])
source = FileSource(path={path!r}, timestamp_field="event_timestamp", created_timestamp_column="created_at")
entity_daily = FeatureView(
    name="entity_daily",
    entities=[entity],
    ttl=timedelta(days=30),
    schema=[Field(name="v1_spend", dtype=Float64), Field(name="v1_clicks", dtype=Int64), Field(name="v1_active", dtype=Bool)],
    online=True,
    source=source,
)
"""

FEAST_SETTINGS = """project: {project}
registry: data/registry.db
provider: local
online_store:
  type: redis
  connection_string: "{connection}"
offline_store:
  type: file
entity_key_serialization_version: 3
"""

# wrk's script: a POST of `per_request` random entities per request; each thread stops after
# `limit` responses; at the end one JSON line with the latency percentiles (microseconds).
WRK_SCRIPT = """
wrk.method = "POST"
wrk.headers["Content-Type"] = "application/json"
local entities, per_request, limit = {entities}, {per_request}, {limit}
local features = '{features}'
local count = 0
request = function()
  local ids = {{}}
  for i = 1, per_request do ids[i] = math.random(0, entities - 1) end
  return wrk.format(nil, nil, nil, '{{"features":' .. features .. ',"entities":{{"entity_id":[' .. table.concat(ids, ",") .. ']}}}}')
end
response = function(status, headers, body)
  count = count + 1
  if count >= limit then wrk.thread:stop() end
end
done = function(summary, latency, requests)
  local e = summary.errors
  io.write(string.format('{{"requests":%d,"duration_us":%d,"p50_us":%d,"p99_us":%d,"status_errors":%d,"socket_errors":%d}}\\n',
    summary.requests, summary.duration, latency:percentile(50), latency:percentile(99), e.status,
    e.connect + e.read + e.write + e.timeout))
end
"""


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def wait_for(port: int, process: subprocess.Popen, seconds: float = 120) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise SystemExit(f"a server exited with {process.returncode}: {process.args}")
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=1):
                return
        except OSError:
            time.sleep(0.2)
    raise SystemExit(f"nothing listens on {port} after {seconds} s: {process.args}")


def post(port: int, document: dict) -> dict:
    import http.client

    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
    try:
        connection.request("POST", "/get-online-features", json.dumps(document), {"Content-Type": "application/json"})
        response = connection.getresponse()
        body = response.read()
        if response.status != 200:
            raise SystemExit(f"port {port} answered {response.status}: {body[:300]!r}")
        return json.loads(body)
    finally:
        connection.close()


# -- in process ------------------------------------------------------------------------------
def in_process_reads(store, client, prefix: str, entities: int, blocks: int, calls: int) -> dict[str, list[float]]:
    """Seconds per call of `get_online_features` for one entity and of one raw HMGET of the
    same hash, in alternating blocks of `calls` (random entities, the same for both)."""
    generation = client.hget(f"{prefix}:entity_daily:meta", "generation")
    fields = ["event_timestamp", "v1_spend", "v1_clicks", "v1_active"]
    rng = random.Random(11)
    samples: dict[str, list[float]] = {"fs": [], "hmget": []}
    clock = time.perf_counter
    for block in range(blocks):
        ids = [rng.randrange(entities) for _ in range(calls)]
        for side in (("fs", "hmget") if block % 2 == 0 else ("hmget", "fs")):
            out = samples[side]
            if side == "fs":
                for entity in ids:
                    started = clock()
                    store.get_online_features([{"entity_id": entity}], FEATURES)
                    out.append(clock() - started)
            else:
                for entity in ids:
                    key = f"{prefix}:entity_daily:gen{generation}:entity_id={entity}"
                    started = clock()
                    client.hmget(key, fields)
                    out.append(clock() - started)
    return samples


# -- Feast -----------------------------------------------------------------------------------
def feast_bin(name: str) -> str:
    return str(FEAST_VENV / "bin" / name)


def install_feast() -> None:
    """Feast from the registry into its own venv (its dependencies are not fs's)."""
    if Path(feast_bin("feast")).exists():
        return
    print(f"installing feast[redis]=={FEAST_VERSION} into {FEAST_VENV} ...", file=sys.stderr)
    subprocess.run([sys.executable, "-m", "venv", str(FEAST_VENV)], check=True)
    subprocess.run([feast_bin("pip"), "install", "-q", f"feast[redis]=={FEAST_VERSION}"], check=True)


def feast_repo(parquet: Path, redis_url: str, project: str) -> Path:
    """A Feast repo over the latest rows of `parquet` (what fs synced), materialized."""
    import duckdb

    shutil.rmtree(FEAST_REPO, ignore_errors=True)
    (FEAST_REPO / "data").mkdir(parents=True)
    latest = FEAST_REPO / "data" / "latest.parquet"
    # The same latest row per entity that fs synced, created_at as the dbt model derives it:
    # Feast then materializes exactly the values fs holds, without reading 100 days of rows.
    duckdb.execute(
        f"""copy (
            select entity_id, event_timestamp,
                event_timestamp + to_minutes(cast(30 + hash(entity_id, event_timestamp) % 600 as integer)) as created_at,
                v1_spend, v1_clicks, v1_active
            from read_parquet('{parquet}')
            where event_timestamp > timestamp '{NOW}' - interval 30 day
            qualify row_number() over (partition by entity_id order by event_timestamp desc) = 1
        ) to '{latest}' (format parquet)"""
    )
    from redis.connection import parse_url

    parts = parse_url(redis_url)
    connection = f"{parts.get('host', '127.0.0.1')}:{parts.get('port', 6379)},db={parts.get('db', 0)}"
    (FEAST_REPO / "feature_store.yaml").write_text(FEAST_SETTINGS.format(project=project, connection=connection))
    (FEAST_REPO / "definitions.py").write_text(FEAST_DEFINITIONS.format(path=str(latest)))
    print("feast apply + materialize ...", file=sys.stderr)
    for command in (["apply"], ["materialize", "2024-01-01T00:00:00", NOW]):
        subprocess.run([feast_bin("feast"), "-c", str(FEAST_REPO), *command], check=True, capture_output=True)
    return FEAST_REPO


# -- HTTP ------------------------------------------------------------------------------------
def wrk(port: int, concurrency: int, per_request: int, entities: int, seconds: float, script_dir: Path) -> dict:
    threads = min(concurrency, 2)
    limit = max(1, int(200_000 / threads))
    script = script_dir / f"post_{per_request}_{threads}.lua"
    if not script.exists():
        script.write_text(
            WRK_SCRIPT.format(entities=entities, per_request=per_request, limit=limit, features=json.dumps(FEATURES))
        )
    started_load = os.getloadavg()[0]
    run = subprocess.run(
        ["wrk", "-t", str(threads), "-c", str(concurrency), "-d", f"{seconds:g}s", "--timeout", "10s",
         "-s", str(script), f"http://127.0.0.1:{port}/get-online-features"],
        check=True, capture_output=True, text=True,
    )
    result = json.loads(run.stdout.strip().splitlines()[-1])
    if result["status_errors"] or result["socket_errors"]:
        raise SystemExit(f"wrk saw errors against port {port}: {result}\n{run.stdout}")
    result["rps"] = result["requests"] / (result["duration_us"] / 1e6)
    result["load"] = (started_load + os.getloadavg()[0]) / 2
    return result


FEAST_CLIENT = """
import json, sys
from feast import FeatureStore
ids = json.loads(sys.argv[2])
rows = [{"entity_id": i} for i in ids]
result = FeatureStore(repo_path=sys.argv[1]).get_online_features(features=json.loads(sys.argv[3]), entity_rows=rows)
print(json.dumps(result.to_dict(), default=str))
"""


def same_answers(fs_port: int, feast_port: int, entities: int) -> None:
    """Both servers return the same values for the same entities (the data is the same), and
    a Feast client pointed at fs serve (Feast's `remote` online store) reads what Feast's own
    online store gives it: a Feast client switches by changing the URL."""
    ids = random.Random(3).sample(range(entities), 50)
    body = {"features": FEATURES, "entities": {"entity_id": ids}}
    ours, theirs = post(fs_port, body), post(feast_port, body)

    def columns(document: dict) -> dict:
        names = document["metadata"]["feature_names"]
        return {name: result["values"] for name, result in zip(names, document["results"])}

    if columns(ours) != columns(theirs):
        raise SystemExit(f"fs and Feast disagree:\n{columns(ours)}\n{columns(theirs)}")

    remote = FEAST_REPO / "remote"
    remote.mkdir(exist_ok=True)
    settings = (FEAST_REPO / "feature_store.yaml").read_text()
    (remote / "feature_store.yaml").write_text(
        settings.replace("registry: data/registry.db", f"registry: {FEAST_REPO / 'data' / 'registry.db'}").split("online_store:")[0]
        + f"online_store:\n  type: remote\n  path: http://127.0.0.1:{fs_port}\noffline_store:\n  type: file\n"
        + "entity_key_serialization_version: 3\n"
    )
    answers = [
        json.loads(subprocess.run(
            [feast_bin("python"), "-c", FEAST_CLIENT, str(repo), json.dumps(ids), json.dumps(FEATURES)],
            check=True, capture_output=True, text=True,
        ).stdout.strip().splitlines()[-1])
        for repo in (FEAST_REPO, remote)
    ]
    if answers[0] != answers[1]:
        raise SystemExit(f"a Feast client reads differently through fs serve:\n{answers[1]}\nthan from Feast's store:\n{answers[0]}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--redis-url", default=os.environ.get("FS_REDIS_URL", "redis://127.0.0.1:6379/0"))
    parser.add_argument("--entities", type=int, default=10_000)
    parser.add_argument("--workers", type=int, default=1)
    parser.add_argument("--seconds", type=int, default=10, help="per wrk run")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--in-process-only", action="store_true", help="skip Feast and HTTP")
    parser.add_argument("--check-only", action="store_true", help="stop after checking both servers' answers")
    parser.add_argument("--write-docs", action="store_true")
    parser.add_argument("--against-source", type=Path, help="compare with fs serve from this checkout, not Feast")
    parser.add_argument("--concurrency", help="comma-separated, instead of 1,8,32")
    args = parser.parse_args()
    if args.concurrency:
        global CONCURRENCY
        CONCURRENCY = tuple(int(c) for c in args.concurrency.split(","))

    import redis

    from featurestore import FeatureStore

    if shutil.which("wrk") is None and not args.in_process_only:
        raise SystemExit("wrk is not on PATH: apt-get install -y wrk")
    parquet = feature_file(1, args.entities, 100)
    build_project(parquet)
    prefix = f"fsbench-serve:{os.getpid()}"
    feast_project = f"fsbench_serve_{os.getpid()}"
    env = {**os.environ, "FS_KEY_PREFIX": prefix, "FS_REDIS_URL": args.redis_url}
    os.environ.update(FS_KEY_PREFIX=prefix, FS_REDIS_URL=args.redis_url)
    client = redis.Redis.from_url(args.redis_url, decode_responses=True)
    store = FeatureStore(project_dir=PROJECT, profiles_dir=PROJECT)
    servers: list[subprocess.Popen] = []
    results: dict[tuple, list[dict]] = {}
    try:
        store.sync(full=True)
        store.get_online_features([{"entity_id": 0}], FEATURES)  # connect, read the schema once
        reads = in_process_reads(store, client, prefix, args.entities, blocks=20, calls=500)
        read_table = in_process_table(reads)
        print(read_table)
        if args.in_process_only:
            return

        fs_port, feast_port = free_port(), free_port()
        serve = [sys.executable, "-m", "featurestore.cli", "serve", "--project-dir", str(PROJECT), "--profiles-dir",
                 str(PROJECT), "--workers", str(args.workers), "--port"]
        servers.append(subprocess.Popen([*serve, str(fs_port)], env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL))
        if args.against_source:
            other = {**env, "PYTHONPATH": str(args.against_source.resolve())}
            servers.append(subprocess.Popen([*serve, str(feast_port)], env=other, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL))
        else:
            install_feast()
            repo = feast_repo(parquet, args.redis_url, feast_project)
            servers.append(subprocess.Popen(
                [feast_bin("feast"), "-c", str(repo), "serve", "-p", str(feast_port), "--workers", str(args.workers),
                 "--no-access-log", "--max-requests", "0", "--registry_ttl_sec", "3600"],
                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
            ))
        for port, process in zip((fs_port, feast_port), servers):
            wait_for(port, process)
        if args.against_source:
            body = {"features": FEATURES, "entities": {"entity_id": random.Random(3).sample(range(args.entities), 50)}}
            if post(fs_port, body) != post(feast_port, body):
                raise SystemExit(f"fs serve from {args.against_source} answers differently")
        else:
            same_answers(fs_port, feast_port, args.entities)
        if args.check_only:
            print("fs serve and feast serve give the same answers, also to a Feast client", file=sys.stderr)
            return
        ports = {"fs": fs_port, "Feast": feast_port}
        with tempfile.TemporaryDirectory() as scripts:
            for side in ports:  # warm both: imports, connections, caches
                for per_request in PER_REQUEST:
                    wrk(ports[side], 8, per_request, args.entities, 2, Path(scripts))
            for round_ in range(args.rounds):
                for concurrency in CONCURRENCY:
                    for per_request in PER_REQUEST:
                        order = ("fs", "Feast") if (round_ + concurrency + per_request) % 2 == 0 else ("Feast", "fs")
                        for side in order:
                            result = wrk(ports[side], concurrency, per_request, args.entities, args.seconds, Path(scripts))
                            results.setdefault((side, concurrency, per_request), []).append(result)
                            print(side, concurrency, per_request, result, file=sys.stderr)
    finally:
        for process in servers:
            process.terminate()
        for process in servers:
            try:
                process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                process.kill()
        delete_prefix(client, prefix)
        if FEAST_REPO.exists() and not args.against_source:
            subprocess.run([feast_bin("feast"), "-c", str(FEAST_REPO), "teardown"], capture_output=True)

    if args.against_source:  # the second column is that checkout's fs serve, not Feast
        table = http_table(results).replace("Feast p", "base p").replace("Feast req", "base req").replace("fs / Feast", "fs / base")
        print(f"`python benchmarks/serve.py --against-source {args.against_source}`, {time.strftime('%Y-%m-%d')}:\n\n{table}")
        return
    text = document(args, client, read_table, http_table(results), results)
    print(text)
    if args.write_docs:
        write_section(text, SECTION)


def in_process_table(reads: dict[str, list[float]]) -> str:
    fs_p50, raw_p50 = percentile(reads["fs"], 0.5), percentile(reads["hmget"], 0.5)
    return "\n".join(
        [
            "| in process, one entity, three features | p50 | p99 | calls |",
            "| --- | --- | --- | --- |",
            f"| `get_online_features` | {fs_p50 * 1e6:.0f} µs | {percentile(reads['fs'], 0.99) * 1e6:.0f} µs | {len(reads['fs']):,} |",
            f"| one raw redis-py `HMGET` of the same hash | {raw_p50 * 1e6:.0f} µs | {percentile(reads['hmget'], 0.99) * 1e6:.0f} µs | {len(reads['hmget']):,} |",
            f"| ratio (target: within 1.5x) | **{fs_p50 / raw_p50:.2f}x** | | |",
        ]
    )


def http_table(results: dict[tuple, list[dict]]) -> str:
    def median(side: str, concurrency: int, per_request: int, key: str) -> float:
        return statistics.median(r[key] for r in results[(side, concurrency, per_request)])

    lines = [
        "| entities / request | concurrency | fs p50 | fs p99 | fs req/s | Feast p50 | Feast p99 | Feast req/s | p99 fs / Feast |",
        "| --- | --- | --- | --- | --- | --- | --- | --- | --- |",
    ]
    for per_request in PER_REQUEST:
        for concurrency in CONCURRENCY:
            cells = []
            for side in ("fs", "Feast"):
                cells += [
                    f"{median(side, concurrency, per_request, 'p50_us') / 1e3:.2f} ms",
                    f"{median(side, concurrency, per_request, 'p99_us') / 1e3:.2f} ms",
                    f"{median(side, concurrency, per_request, 'rps'):,.0f}",
                ]
            ratio = median("fs", concurrency, per_request, "p99_us") / median("Feast", concurrency, per_request, "p99_us")
            lines.append(f"| {per_request} | {concurrency} | {' | '.join(cells)} | **{ratio:.2f}x** |")
    return "\n".join(lines)


def document(args, client, read_table: str, table: str, results: dict[tuple, list[dict]]) -> str:
    loads = [r["load"] for runs in results.values() for r in runs]
    machine = (
        f"{os.cpu_count()} cores, Python {sys.version.split()[0]}, Redis "
        f"{client.info('server')['redis_version']} at {args.redis_url.split('@')[-1]}"
    )
    return (
        f"{SECTION}\n\n`python benchmarks/serve.py`, {time.strftime('%Y-%m-%d')}, {machine}; "
        f"{args.entities:,} entities synced, Feast {FEAST_VERSION} over the same latest rows in the same Redis. "
        f"Both servers with {args.workers} worker{'s' if args.workers > 1 else ''} and no access log; "
        f"`wrk` on loopback, {args.seconds:g} s per run, random entities, runs alternating fs / Feast, "
        f"medians of {args.rounds} rounds. The machine's 1-minute load average during the runs: median "
        f"{statistics.median(loads):.1f} (from {min(loads):.1f} to {max(loads):.1f}) on {os.cpu_count()} cores, "
        "shared with other work: read the ratios more than the milliseconds.\n\n"
        f"{table}\n\n{read_table}\n"
    )


if __name__ == "__main__":
    main()
