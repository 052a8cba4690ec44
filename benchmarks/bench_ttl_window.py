"""Where the ttl-window join pays (sql/ttl_window.py; the rule is offline/scans.py
`ttl_window_pays`): the two join forms written by hand in DuckDB, over the reference view
(100k entities x 100 days, daily rows, 9M rows) and spines of several sizes, at several ttls.

    python benchmarks/bench_ttl_window.py [--spines last_tenth,whole] [--ttls 1,7,28,100] [--repeat 5]

Each query is fs's shape for one view with the uniqueness test: the view's scan bounded by
the spine's latest time and its earliest time less the ttl, joined either by the as-of join
(`asof`) or by a hash join on the key within each spine row's ttl window and the latest row
per spine row (`window`), then the spine's rows in order with the ttl applied, written to
parquet. One process per spine and ttl, the forms taking turns; CPU seconds of the query
alone (time.process_time around it), median and best of `--repeat`.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

from reference_data import DATA, START, feature_file, spine_file, spine_subset  # noqa: E402

SPINES = {
    "whole": None,
    "last_tenth": f"event_timestamp >= timestamp '{START}' + interval 90 day",
    "last_30": f"event_timestamp >= timestamp '{START}' + interval 70 day",
    "hundredth": "entity_id % 100 = 0",
}
FEATURES = ("v0_spend", "v0_clicks", "v0_active")


def queries(spine: Path, view: Path, earliest: str, latest: str, ttl_days: int) -> dict[str, str]:
    ttl = f"interval {ttl_days} day"
    spine_rows = f"spine as (select entity_id, event_timestamp, label, file_row_number as r from read_parquet('{spine}', file_row_number = true))"
    view_rows = (
        f"v as (select entity_id, event_timestamp as at, {', '.join(FEATURES)} from read_parquet('{view}') "
        f"where event_timestamp <= timestamp '{latest}' and event_timestamp >= timestamp '{earliest}' - {ttl})"
    )
    columns = ", ".join(f"case when m.at >= s.event_timestamp - {ttl} then m.{f} end as {f}" for f in FEATURES)
    out = f"select s.entity_id, s.event_timestamp, s.label, {columns} from spine s"
    window = (
        f"m as (select s.r, v.at, {', '.join(f'v.{f}' for f in FEATURES)} from spine s join v on s.entity_id = v.entity_id "
        f"and v.at <= s.event_timestamp and v.at >= s.event_timestamp - {ttl} "
        "qualify row_number() over (partition by s.r order by v.at desc) = 1)"
    )
    return {
        "asof": f"with {spine_rows}, {view_rows} {out} asof left join v m on s.entity_id = m.entity_id and s.event_timestamp >= m.at order by s.r",
        "window": f"with {spine_rows}, {view_rows}, {window} {out} left join m on m.r = s.r order by s.r",
    }


def main() -> None:
    import duckdb

    parser = argparse.ArgumentParser()
    parser.add_argument("--spines", default="last_tenth,whole")
    parser.add_argument("--ttls", default="1,7,28,100")
    parser.add_argument("--repeat", type=int, default=5)
    args = parser.parse_args()
    view = feature_file(0)
    print("| spine | spine rows | ttl (days) | as-of CPU s: median, best | window CPU s: median, best | window / as-of (medians) |")
    print("| --- | --- | --- | --- | --- | --- |")
    for name in args.spines.split(","):
        spine = spine_file() if SPINES[name] is None else spine_subset(name, SPINES[name])
        for ttl in map(int, args.ttls.split(",")):
            con = duckdb.connect()
            con.execute("set memory_limit = '2GB'")
            rows, earliest, latest = con.execute(
                f"select count(*), min(event_timestamp), max(event_timestamp) from read_parquet('{spine}')"
            ).fetchone()
            forms = queries(spine, view, earliest, latest, ttl)
            cpu: dict[str, list[float]] = {form: [] for form in forms}
            for _ in range(args.repeat):
                for form, query in forms.items():
                    start = time.process_time()
                    con.execute(f"copy ({query}) to '{DATA / f'out_ttl_window_{form}.parquet'}' (format parquet)")
                    cpu[form].append(time.process_time() - start)
            same = con.execute(
                f"select count(*) from (select * from '{DATA / 'out_ttl_window_asof.parquet'}' "
                f"except all select * from '{DATA / 'out_ttl_window_window.parquet'}')"
            ).fetchone()[0]
            if same:
                raise SystemExit(f"the forms disagree on {same} rows ({name}, ttl {ttl})")
            a, w = (statistics.median(cpu[f]) for f in ("asof", "window"))
            print(f"| {name} | {rows:,} | {ttl} | {a:.2f}, {min(cpu['asof']):.2f} | {w:.2f}, {min(cpu['window']):.2f} | {w / a:.2f} |", flush=True)


if __name__ == "__main__":
    main()
