"""`fs training-set` on the real demo project: inputs, outputs and every bad input."""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path

import duckdb
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from featurestore import FeatureStore
from featurestore.engines.registry import dialects
from featurestore.errors import EXIT_USAGE, EXIT_WAREHOUSE
from tests.conftest import copy_project, project_env

pytestmark = pytest.mark.integration

FEATURES = "weather_hourly:origin__temp_f,carrier_daily:carrier__dep_delay_rate__7d,route_daily:*"


@pytest.fixture(scope="module")
def spine_file(built_project, tmp_path_factory) -> Path:
    """3,000 real labelled flights, in an order that is not the table's."""
    path = tmp_path_factory.mktemp("spine") / "spine.parquet"
    with duckdb.connect(str(built_project / "feature_store.duckdb"), read_only=True) as con:
        con.execute(
            f"copy (select * from main.flight_delay_labels where flight_id % 100 = 7 "
            f"order by hash(flight_id) limit 3000) to '{path}' (format parquet)"
        )
    return path


def fs(cli, project: Path, *args: str):
    return cli("training-set", "--project-dir", str(project), *args)


def test_parquet_in_parquet_out_keeps_every_spine_row_in_order(built_project, spine_file, tmp_path, cli, clean_env):
    out = tmp_path / "train.parquet"
    code, stdout, err = fs(cli, built_project, "--spine", str(spine_file), "--features", FEATURES, "-o", str(out))
    assert (code, err) == (0, "")
    assert stdout.startswith("3,000 rows in ") and "coverage: weather_hourly" in stdout
    result = pq.read_table(out)
    spine = pq.read_table(spine_file)
    assert result.column_names == [
        *spine.column_names, "origin__temp_f", "carrier__dep_delay_rate__7d", "route__flights__28d",
        "route__dep_delay_rate__28d", "route__arr_delay_rate__28d", "route__avg_arr_delay_min__28d", "route__distance_mi",
    ]
    assert result.select(spine.column_names).equals(spine)
    assert not list(tmp_path.glob(".*partial*"))


def test_every_spine_source_gives_the_same_rows(built_project, spine_file, tmp_path, clean_env):
    store = FeatureStore(project_dir=built_project)
    features = FEATURES.split(",")
    from_file = store.training_set(spine_file, features).to_arrow()
    csv_file = tmp_path / "spine.csv"
    pq.read_table(spine_file).to_pandas().to_csv(csv_file, index=False)
    from_csv = store.training_set(csv_file, features).to_arrow()
    from_frame = store.training_set(pq.read_table(spine_file).to_pandas(), features).to_pandas()
    ids = ",".join(str(i) for i in pq.read_table(spine_file)["flight_id"].to_pylist()[:50])
    from_sql = store.training_set(
        spine_sql=f"select * from flight_delay_labels where flight_id in ({ids}) order by flight_id", features=features
    ).to_pandas()
    from_model = store.training_set("flight_delay_labels", features).to_pandas()

    assert from_csv.to_pylist() == from_file.to_pylist()
    assert from_frame.equals(from_file.to_pandas())
    by_id = from_model.set_index("flight_id")
    expected = by_id.loc[from_sql["flight_id"]].reset_index()
    assert from_sql.equals(expected[from_sql.columns])
    assert list(from_sql["flight_id"]) == sorted(from_sql["flight_id"])


def test_timestamp_rule_naive_utc_tz_aware_date_and_iso_text(built_project, spine_file, clean_env):
    store = FeatureStore(project_dir=built_project)
    spine = pq.read_table(spine_file).to_pandas().head(300)
    features = ["weather_hourly:origin__temp_f", "carrier_daily:*"]
    naive = store.training_set(spine, features).to_pandas()
    aware = spine.assign(event_timestamp=spine["event_timestamp"].dt.tz_localize("UTC").dt.tz_convert("America/New_York"))
    assert store.training_set(aware, features).to_pandas().drop(columns="event_timestamp").equals(
        naive.drop(columns="event_timestamp")
    )
    text = spine.assign(event_timestamp=spine["event_timestamp"].dt.strftime("%Y-%m-%dT%H:%M:%SZ"))
    assert store.training_set(text, features).to_pandas().drop(columns="event_timestamp").equals(
        naive.drop(columns="event_timestamp")
    )


def test_empty_spine_gives_empty_output_with_the_columns(built_project, spine_file, tmp_path, cli, clean_env):
    empty = tmp_path / "empty.parquet"
    pq.write_table(pq.read_table(spine_file).slice(0, 0), empty)
    out = tmp_path / "out.parquet"
    code, stdout, _ = fs(cli, built_project, "--spine", str(empty), "--features", "carrier_daily:*", "-o", str(out))
    assert code == 0 and stdout.startswith("0 rows")
    table = pq.read_table(out)
    assert table.num_rows == 0
    assert table.column_names[-1] == "carrier__dep_delay_rate__28d"


def test_output_table_is_created_and_replaced(built_project, spine_file, cli, clean_env):
    code, _, err = fs(cli, built_project, "--spine", str(spine_file), "--features", FEATURES, "--output-table", "training_delay")
    assert (code, err) == (0, "")
    with duckdb.connect(str(built_project / "feature_store.duckdb"), read_only=True) as con:
        assert con.execute("select count(*) from main.training_delay").fetchone()[0] == 3000


@pytest.mark.parametrize("name", ["stg_flights", "MAIN.stg_flights", '"stg_flights"'])
def test_output_table_refuses_any_dbt_models_table(built_project, spine_file, cli, clean_env, name):
    database = built_project / "feature_store.duckdb"
    with duckdb.connect(str(database), read_only=True) as con:
        before = con.execute("select count(*) from main.stg_flights").fetchone()[0]
    code, _, err = fs(cli, built_project, "--spine", str(spine_file), "--features", FEATURES, "--output-table", name)
    assert (code, err) == (
        EXIT_USAGE,
        f"error: --output-table {name} is the table of dbt model 'stg_flights' (feature_store.main.stg_flights), "
        "which dbt builds; give the training set a table of its own\n",
    )
    with duckdb.connect(str(database), read_only=True) as con:
        assert con.execute("select count(*) from main.stg_flights").fetchone()[0] == before


@pytest.mark.parametrize("path", ["/proc/fs-out.parquet", "/sys/fs-out.csv"])
def test_an_existing_folder_we_cannot_write_in_is_one_line(built_project, spine_file, cli, clean_env, path):
    code, out, err = fs(cli, built_project, "--spine", str(spine_file), "--features", FEATURES, "-o", path)
    assert (code, out) == (EXIT_USAGE, "")
    assert err.startswith(f"error: output file {path} cannot be written: ") and err.count("\n") == 1
    assert ".partial-" not in err


def test_output_table_refuses_a_dbt_sources_table(built_project, spine_file, cli, clean_env):
    # The raw tables dbt reads are no more fs's to replace than the models it builds.
    database = built_project / "feature_store.duckdb"
    with duckdb.connect(str(database), read_only=True) as con:
        before = con.execute("select count(*) from nycflights13.flights").fetchone()[0]
    code, _, err = fs(
        cli, built_project, "--spine", str(spine_file), "--features", FEATURES, "--output-table", "nycflights13.flights"
    )
    assert (code, err) == (
        EXIT_USAGE,
        "error: --output-table nycflights13.flights is the table of dbt source 'nycflights13.flights' "
        "(feature_store.nycflights13.flights), which dbt reads; give the training set a table of its own\n",
    )
    with duckdb.connect(str(database), read_only=True) as con:
        assert con.execute("select count(*) from nycflights13.flights").fetchone()[0] == before


def test_output_table_in_another_schema_is_not_the_models(built_project, spine_file, cli, clean_env):
    with duckdb.connect(str(built_project / "feature_store.duckdb")) as con:
        con.execute("create schema if not exists scratch")
    code, _, err = fs(cli, built_project, "--spine", str(spine_file), "--features", FEATURES, "--output-table", "scratch.carrier_daily")
    assert (code, err) == (0, "")
    with duckdb.connect(str(built_project / "feature_store.duckdb"), read_only=True) as con:
        assert con.execute("select count(*) from scratch.carrier_daily").fetchone()[0] == 3000


def test_failed_run_leaves_outputs_as_they_were(built_project, spine_file, tmp_path, cli, clean_env):
    out = tmp_path / "train.parquet"
    out.write_bytes(b"previous contents")
    failing = "select *, case when flight_id > 200000 then error('boom') end as x from flight_delay_labels"
    code, _, err = fs(cli, built_project, "--spine-sql", failing, "--features", FEATURES, "-o", str(out))
    assert code == EXIT_WAREHOUSE and "boom" in err and err.count("\n") == 1
    assert out.read_bytes() == b"previous contents"
    assert [p.name for p in tmp_path.iterdir()] == ["train.parquet"]

    # The table is written here, not taken from another test: the test holds alone or on any worker.
    code, _, _ = fs(cli, built_project, "--spine", str(spine_file), "--features", FEATURES, "--output-table", "training_kept")
    assert code == 0
    code, _, err = fs(cli, built_project, "--spine-sql", failing, "--features", FEATURES, "--output-table", "training_kept")
    assert code == EXIT_WAREHOUSE
    with duckdb.connect(str(built_project / "feature_store.duckdb"), read_only=True) as con:
        assert con.execute("select count(*) from main.training_kept").fetchone()[0] == 3000


def test_failed_run_removes_the_folders_it_made(built_project, spine_file, tmp_path, cli, clean_env):
    failing = "select *, case when flight_id > 200000 then error('boom') end as x from flight_delay_labels"
    out = tmp_path / "new" / "deeper" / "train.parquet"
    code, _, err = fs(cli, built_project, "--spine-sql", failing, "--features", FEATURES, "-o", str(out))
    assert code == EXIT_WAREHOUSE and "boom" in err and err.count("\n") == 1
    assert list(tmp_path.iterdir()) == []


def test_a_spine_file_that_is_a_folder_is_one_line(built_project, tmp_path, cli, clean_env):
    folder = tmp_path / "spine.parquet"
    folder.mkdir()
    code, _, err = fs(cli, built_project, "--spine", str(folder), "--features", FEATURES, "-o", str(tmp_path / "o.parquet"))
    assert (code, err) == (EXIT_USAGE, f"error: spine file {folder} is a folder, not a file\n")


def test_sql_for_each_dialect(built_project, spine_file, cli, clean_env):
    """Every dialect of the registry, none other; no warnings (sqlglot's) on stderr; the
    relation names are the target's, spelt as each engine stores dbt's tables."""
    markers = {"duckdb": "ASOF LEFT JOIN", "snowflake": "MATCH_CONDITION", "spark": "IGNORE NULLS", "databricks": "IGNORE NULLS"}
    assert set(markers) <= set(dialects())
    for dialect in dialects():
        code, out, err = fs(cli, built_project, "--spine", "flight_delay_labels", "--features", FEATURES, "--sql", "--dialect", dialect)
        assert (code, err) == (0, "") and markers.get(dialect, "FIRST_VALUE") in out, dialect
        table = '"FEATURE_STORE"."MAIN"."WEATHER_HOURLY"' if dialect == "snowflake" else "weather_hourly"
        assert table in out, dialect
    code, out, err = fs(cli, built_project, "--spine", "flight_delay_labels", "--features", FEATURES, "--sql", "--dialect", "mysql")
    assert (code, out) == (EXIT_USAGE, "")
    assert err == f"error: unknown dialect 'mysql'; supported: {', '.join(sorted(dialects()))}\n"


def test_full_names_avoid_collisions(built_project, spine_file, tmp_path, cli, clean_env):
    features = "carrier_daily:*,route_daily:route__flights__28d"
    spine = tmp_path / "spine.parquet"
    table = pq.read_table(spine_file)
    pq.write_table(table.append_column("route__flights__28d", pa.array([0] * table.num_rows)), spine)
    code, _, err = fs(cli, built_project, "--spine", str(spine), "--features", features, "-o", str(tmp_path / "o.parquet"))
    assert code == EXIT_USAGE
    assert err == (
        "error: output column 'route__flights__28d' of route_daily:route__flights__28d clashes with spine column "
        "'route__flights__28d'; use --full-names (full_names=True) to name features view__feature\n"
    )
    code, _, _ = fs(cli, built_project, "--spine", str(spine), "--features", features, "--full-names", "-o", str(tmp_path / "o.parquet"))
    assert code == 0
    assert "route_daily__route__flights__28d" in pq.read_table(tmp_path / "o.parquet").column_names


BAD_INPUTS = {
    "missing file": (["--spine", "{tmp}/nope.parquet"], "error: spine file {tmp}/nope.parquet does not exist\n"),
    "unknown format": (["--spine", "{tmp}/spine.json"], "error: spine file {tmp}/spine.json: unknown format '.json'; valid: .parquet, .pq, .csv\n"),
    "unknown view": (
        ["--spine", "{spine}", "--features", "carier_daily:*"],
        "error: unknown feature view 'carier_daily'; did you mean 'carrier_daily'?\n",
    ),
    "unknown feature": (
        ["--spine", "{spine}", "--features", "carrier_daily:carrier__dep_delay_rate_7d"],
        "error: view 'carrier_daily' has no feature 'carrier__dep_delay_rate_7d'; did you mean 'carrier__dep_delay_rate__7d'?\n",
    ),
    "bad as-of": (["--spine", "{spine}", "--as-of", "now"], "error: --as-of 'now' is not a mode; valid: knowledge, event-time\n"),
    "no output": (
        ["--spine", "{spine}", "--features", "carrier_daily:*"],
        "error: say where the rows go: --output FILE (.parquet/.csv), --output-table NAME, or --sql\n",
    ),
    "bad output format": (
        ["--spine", "{spine}", "-o", "{tmp}/out.xlsx"],
        "error: --output {tmp}/out.xlsx: unknown format '.xlsx'; valid: .parquet, .csv\n",
    ),
    "bad spine sql": (["--spine-sql", "selec 1", "-o", "{tmp}/o.parquet"], "error: --spine-sql is not valid duckdb SQL:"),
    "no spine": (["-o", "{tmp}/o.parquet"], "error: no spine given: pass --spine FILE|MODEL or --spine-sql QUERY\n"),
}


@pytest.mark.parametrize("case", BAD_INPUTS, ids=list(BAD_INPUTS))
def test_bad_input_is_one_line_and_exit_2(built_project, spine_file, tmp_path, cli, clean_env, case):
    args, expected = BAD_INPUTS[case]
    fill = lambda s: s.format(tmp=tmp_path, spine=spine_file)  # noqa: E731
    args = [fill(a) for a in args]
    if "--features" not in args:
        args += ["--features", "carrier_daily:*"]
    if not any(a in args for a in ("-o", "--output-table", "--sql")) and case != "no output":
        args += ["-o", str(tmp_path / "o.parquet")]
    code, out, err = fs(cli, built_project, *args)
    assert code == EXIT_USAGE
    assert err.startswith(fill(expected)) and err.count("\n") == 1
    assert out == ""


def _spine_variant(spine_file: Path, tmp_path: Path, **columns) -> Path:
    frame = pq.read_table(spine_file).to_pandas().head(20)
    for name, value in columns.items():
        if value is None:
            frame = frame.drop(columns=name)
        else:
            frame[name] = value
    path = tmp_path / "variant.parquet"
    frame.to_parquet(path, index=False)
    return path


@pytest.mark.parametrize(
    "columns,expected",
    [
        (
            {"dest": None, "carrier": None},
            "lacks join key column(s) 'carrier' (needed by carrier_daily); 'dest' (needed by route_daily); spine columns: ",
        ),
        ({"event_timestamp": None}, "has no timestamp column 'event_timestamp' (set --timestamp-column);"),
        ({"event_timestamp": 17}, "timestamp column 'event_timestamp' has type bigint; valid: a timestamp, a date, or ISO-8601 text"),
        (
            {"event_timestamp": "01/02/2013 10:00"},
            "timestamp column 'event_timestamp' holds text that is not an unambiguous ISO-8601 timestamp, e.g. '01/02/2013 10:00';",
        ),
    ],
    ids=["missing join keys", "missing timestamp", "integer timestamp", "ambiguous text timestamp"],
)
def test_bad_spine_columns(built_project, spine_file, tmp_path, cli, clean_env, columns, expected):
    variant = _spine_variant(spine_file, tmp_path, **columns)
    code, _, err = fs(cli, built_project, "--spine", str(variant), "--features", FEATURES, "-o", str(tmp_path / "o.parquet"))
    assert code == EXIT_USAGE
    assert expected in err and err.count("\n") == 1


def test_unreadable_spine_file(built_project, tmp_path, cli, clean_env):
    broken = tmp_path / "broken.parquet"
    broken.write_bytes(b"this is not parquet")
    code, _, err = fs(cli, built_project, "--spine", str(broken), "--features", FEATURES, "-o", str(tmp_path / "o.parquet"))
    assert code == EXIT_USAGE
    assert err.startswith(f"error: spine file {broken} cannot be read as parquet: ") and err.count("\n") == 1


def test_views_not_built_yet_say_run_dbt_build(tmp_path, spine_file, cli, clean_env, built_project):
    project = copy_project(tmp_path / "unbuilt", built_project)  # parsed partially from the built demo's parse
    code, _, err = fs(cli, project, "--spine", str(spine_file), "--features", "route_daily:*", "-o", str(tmp_path / "o.parquet"))
    assert code == EXIT_WAREHOUSE
    database = project / "feature_store.duckdb"
    assert err == f"error: the DuckDB file {database} does not exist yet: run `dbt build` (or `fs build`) first\n"

    # Some models built, the feature view not.
    with duckdb.connect(str(database)) as con:
        con.execute("create table main.weather_hourly as select 1 as origin")
    code, _, err = fs(cli, project, "--spine", str(spine_file), "--features", "route_daily:*", "-o", str(tmp_path / "o.parquet"))
    assert code == EXIT_WAREHOUSE
    assert err == (
        "error: feature view 'route_daily' is not built: feature_store.main.route_daily does not exist in the "
        "warehouse; run `fs build` (or `dbt build`)\n"
    )


def test_locked_duckdb_file_fails_fast_with_a_clear_message(built_project, spine_file, tmp_path, cli, clean_env):
    database = built_project / "feature_store.duckdb"
    holder = subprocess.Popen(
        [sys.executable, "-c", f"import duckdb, time; c = duckdb.connect({str(database)!r}); print('ready', flush=True); time.sleep(60)"],
        stdout=subprocess.PIPE, text=True, env=project_env(),
    )
    try:
        assert holder.stdout.readline().strip() == "ready"
        started = time.monotonic()
        code, _, err = fs(cli, built_project, "--spine", str(spine_file), "--features", FEATURES, "-o", str(tmp_path / "o.parquet"))
        assert time.monotonic() - started < 30  # fails, does not hang
    finally:
        holder.kill()
        holder.wait()
    assert code == EXIT_WAREHOUSE
    assert err.startswith(f"error: the DuckDB file {database} is locked by ") and f"(PID {holder.pid})" in err
    assert "wait for it to finish and retry" in err


def test_awkward_column_names_are_quoted_everywhere(built_project, spine_file, tmp_path, clean_env):
    """A spine column with a double quote in its name reaches every output intact."""
    store = FeatureStore(project_dir=built_project)
    spine = pq.read_table(spine_file).slice(0, 50)
    spine = spine.append_column('odd "name"', pa.array(range(50)))
    out = tmp_path / "odd.csv"
    result = store.training_set(spine, ["carrier_daily:*"], output=out)
    assert result.summary.rows == 50
    import pandas as pd

    assert list(pd.read_csv(out)['odd "name"']) == list(range(50))
    assert store.training_set(spine, ["carrier_daily:*"]).to_arrow().column('odd "name"').to_pylist() == list(range(50))
