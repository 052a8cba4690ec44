"""Training-set records (offline/record.py), `--reproduce` (offline/reproduce.py) and the
OpenLineage events of fs's commands (governance/lineage_events.py), on the built demo."""

from __future__ import annotations

import json
import shutil
import sys
import uuid
from datetime import datetime
from pathlib import Path

import duckdb
import jsonschema
import pyarrow.parquet as pq
import pytest

from featurestore import FeatureStore
from featurestore.errors import (
    EXIT_REPRODUCED_DATA,
    EXIT_REPRODUCED_MODEL,
    EXIT_REPRODUCED_SPINE,
    EXIT_USAGE,
    EXIT_WAREHOUSE,
)
from tests.conftest import run_checked
from tests.online_fixtures import TINY_VIEW, online, row, tiny  # noqa: F401  (fixtures)

pytestmark = pytest.mark.integration

FEATURES = "weather_hourly:origin__temp_f,carrier_daily:carrier__dep_delay_rate__7d"
SCHEMA = json.loads((Path(__file__).parents[1] / "data" / "openlineage_spec.json").read_text())


@pytest.fixture(scope="module")
def project(built_project, tmp_path_factory) -> Path:
    """A copy of the built demo of this module's own: its tests change data and a model."""
    copy = tmp_path_factory.mktemp("records") / "project"
    shutil.copytree(built_project, copy, ignore=shutil.ignore_patterns(".fs"))
    return copy


@pytest.fixture(scope="module")
def spine_file(project, tmp_path_factory) -> Path:
    path = tmp_path_factory.mktemp("spine") / "spine.parquet"
    with duckdb.connect(str(project / "feature_store.duckdb"), read_only=True) as con:
        con.execute(
            f"copy (select * from main.flight_delay_labels where flight_id % 100 = 7 limit 2000) to '{path}' (format parquet)"
        )
    return path


def fs(cli, project: Path, *args: str):
    return cli("training-set", "--project-dir", str(project), *args)


def manifest_node(project: Path, view: str) -> dict:
    manifest = json.loads((project / "target" / "manifest.json").read_text())
    return manifest["nodes"][f"model.flight_features.{view}"]


def test_a_file_output_has_its_record_beside_it_and_reproduces_identical(project, spine_file, tmp_path, cli, clean_env):
    out = tmp_path / "train.parquet"
    code, stdout, err = fs(cli, project, "--spine", str(spine_file), "--features", FEATURES, "-o", str(out))
    assert (code, err) == (0, "")
    record = json.loads((tmp_path / "train.parquet.record.json").read_text())
    assert record["rows"] == pq.read_table(out).num_rows == 2000
    for view in ("weather_hourly", "carrier_daily"):
        node = manifest_node(project, view)
        assert record["views"][view]["unique_id"] == f"model.flight_features.{view}"
        assert record["views"][view]["checksum"] == f"{node['checksum']['name']}:{node['checksum']['checksum']}"
        assert record["views"][view]["version"] is None
    assert record["spine"]["sha256"] == __import__("hashlib").sha256(spine_file.read_bytes()).hexdigest()
    assert record["request"]["as_of"] == "knowledge" and record["sql"].lower().startswith("with")
    # The content hash does not depend on the rows' order: the same rows reversed hash the same.
    reversed_file = tmp_path / "reversed.parquet"
    table = pq.read_table(out)
    pq.write_table(table.take(list(range(table.num_rows - 1, -1, -1))), reversed_file)
    with duckdb.connect() as con:
        from featurestore.engines.local_files import file_content_hash

        assert file_content_hash(con, reversed_file, "parquet") == (2000, record["output"]["content_hash"])
    index = [json.loads(line) for line in (project / ".fs" / "records" / "index.jsonl").read_text().splitlines()]
    assert index[-1]["record"] == str(tmp_path / "train.parquet.record.json")

    code, stdout, err = fs(cli, project, "--reproduce", str(tmp_path / "train.parquet.record.json"))
    assert (code, err) == (0, "")
    assert stdout.startswith("identical: 2,000 rows")
    assert out.exists() and sorted(p.name for p in tmp_path.iterdir()) == ["reversed.parquet", "train.parquet", "train.parquet.record.json"]


def test_a_changed_spine_is_named_with_exit_12(project, spine_file, tmp_path, cli, clean_env):
    spine = tmp_path / "spine.parquet"
    shutil.copy(spine_file, spine)
    out = tmp_path / "train.parquet"
    assert fs(cli, project, "--spine", str(spine), "--features", FEATURES, "-o", str(out))[0] == 0
    pq.write_table(pq.read_table(spine).slice(0, 1500), spine)
    code, stdout, _ = fs(cli, project, "--reproduce", str(out) + ".record.json")
    assert code == EXIT_REPRODUCED_SPINE
    assert stdout.startswith("changed (spine): 2,000 rows recorded, 1,500 now")
    assert f"spine: the spine ({spine}) changed" in stdout


def test_a_table_output_and_the_python_api_return_the_record(project, spine_file, clean_env):
    store = FeatureStore(project_dir=project)
    result = store.training_set(spine_file, FEATURES.split(","), output_table="train_records")
    assert result.record["output"]["kind"] == "table" and result.record["rows"] == 2000
    assert Path(result.summary.record).parent == project / ".fs" / "records"
    reproduced = store.reproduce_training_set(result.summary.record)
    assert reproduced.identical and reproduced.exit_code == 0
    with duckdb.connect(str(project / "feature_store.duckdb"), read_only=True) as con:
        tables = {row[0] for row in con.execute("select table_name from information_schema.tables").fetchall()}
        (warehouse_hash,) = con.execute(
            "select sum(cast(hash(t) as decimal(38,0))) from main.train_records t"
        ).fetchone()
    assert "train_records" in tables and "train_records__fs_reproduce" not in tables
    assert result.record["output"]["content_hash"] == str(int(warehouse_hash))
    # Rows returned to Python: the record says so, and their hash is the one DuckDB gives the
    # same rows in the table.
    frame = store.training_set(spine_file, FEATURES.split(","))
    assert frame.record["output"]["kind"] == "frame" and frame.record["rows"] == frame.to_arrow().num_rows == 2000
    assert frame.record["output"]["content_hash"] == result.record["output"]["content_hash"]


def test_changed_data_in_the_warehouse_is_exit_13(project, spine_file, tmp_path, cli, clean_env):
    out = tmp_path / "train.parquet"
    assert fs(cli, project, "--spine", str(spine_file), "--features", FEATURES, "-o", str(out))[0] == 0
    with duckdb.connect(str(project / "feature_store.duckdb")) as con:
        con.execute("update main.carrier_daily set carrier__dep_delay_rate__7d = carrier__dep_delay_rate__7d + 1")
    code, stdout, _ = fs(cli, project, "--reproduce", str(out) + ".record.json")
    assert code == EXIT_REPRODUCED_DATA
    assert stdout.splitlines() == [
        f"changed (data): 2,000 rows recorded, 2,000 now; the content differs ({out}.record.json)",
        "  data: no recorded model, spine or version changed: the warehouse's rows did",
    ]


def test_an_edited_and_rebuilt_model_is_named_with_exit_11(project, spine_file, tmp_path, cli, clean_env):
    out = tmp_path / "train.parquet"
    assert fs(cli, project, "--spine", str(spine_file), "--features", FEATURES, "-o", str(out))[0] == 0
    model = project / "models" / "features" / "carrier_daily.sql"
    text = model.read_text()
    edited = text.replace(
        "/ nullif(departed_7d, 0) as carrier__dep_delay_rate__7d", "* 0.5 / nullif(departed_7d, 0) as carrier__dep_delay_rate__7d"
    )
    assert edited != text
    model.write_text(edited)
    run_checked([sys.executable, "-m", "featurestore.cli", "build", "--project-dir", ".", "--select", "carrier_daily"], project, here=True)
    code, stdout, _ = fs(cli, project, "--reproduce", str(out) + ".record.json")
    assert code == EXIT_REPRODUCED_MODEL
    lines = stdout.splitlines()
    assert lines[0].startswith("changed (model):")
    assert [line for line in lines if line.startswith("  model:")] == [
        line for line in lines if "model model.flight_features.carrier_daily changed: checksum sha256:" in line
    ] != []


def record_table_rows(project: Path, table: str) -> list[dict]:
    with duckdb.connect(str(project / "feature_store.duckdb"), read_only=True) as con:
        cursor = con.execute(f"select * from main.{table}__fs_record")
        names = [column[0] for column in cursor.description]
        return [dict(zip(names, row)) for row in cursor.fetchall()]


def test_a_table_output_keeps_its_record_in_the_warehouse_replaced_on_rebuild_and_reproduced_from_there(
    project, spine_file, cli, clean_env
):
    def build() -> tuple[str, dict]:
        code, stdout, err = fs(cli, project, "--spine", str(spine_file), "--features", FEATURES, "--output-table", "train_kept", "--json")
        assert (code, err) == (0, "")
        path = Path(json.loads(stdout)["record"])
        return path.read_text(), json.loads(path.read_text())

    first_text, first = build()
    second_text, second = build()
    assert first["id"] != second["id"]
    # One row, replaced on rebuild: exactly the record written in .fs/records/, and its facts.
    (row,) = record_table_rows(project, "train_kept")
    assert row == {
        "record_id": second["id"],
        "created_at": datetime.fromisoformat(second["created_at"]),
        "fs_version": second["versions"]["fs"],
        "manifest_sha256": second["manifest"]["sha256"],
        "output_content_hash": second["output"]["content_hash"],
        "row_count": 2000,
        "record": second_text,
    }
    assert second["output"]["content_hash"] == first["output"]["content_hash"] is not None

    code, stdout, err = fs(cli, project, "--reproduce", "table:train_kept")
    assert (code, err) == (0, "")
    assert stdout.splitlines() == ["identical: 2,000 rows with the recorded content hash (table:train_kept)"]
    assert FeatureStore(project_dir=project).reproduce_training_set("train_kept").identical  # a bare name: no such file
    with duckdb.connect(str(project / "feature_store.duckdb")) as con:
        con.execute("update main.weather_hourly set origin__temp_f = origin__temp_f + 1")
        tables = {r[0] for r in con.execute("select table_name from information_schema.tables").fetchall()}
    assert "train_kept__fs_reproduce" not in tables and "train_kept__fs_reproduce__fs_record" not in tables
    code, stdout, _ = fs(cli, project, "--reproduce", "train_kept")
    assert code == EXIT_REPRODUCED_DATA
    assert stdout.splitlines()[0] == "changed (data): 2,000 rows recorded, 2,000 now; the content differs (train_kept)"
    assert len(record_table_rows(project, "train_kept")) == 1  # a reproduction leaves the record as it was


@pytest.mark.parametrize(
    "given, looked_for",
    [("table:no_such_table", "\"main\".no_such_table__fs_record"), ("no_such_table", "\"main\".no_such_table__fs_record"),
     ("table:a.b.c.d", "a.b.c.d__fs_record")],
)
def test_a_name_that_is_neither_a_record_file_nor_a_table_with_a_record_is_one_line_and_exit_2(
    project, cli, clean_env, given, looked_for
):
    code, stdout, err = fs(cli, project, "--reproduce", given)
    assert (code, stdout) == (EXIT_USAGE, "")
    assert err == (
        f"error: --reproduce {given}: neither a record file nor a table with a record (no table {looked_for}); "
        "give <output>.record.json, or table:<table> for a training set written with --output-table\n"
    )


@pytest.mark.parametrize(
    "content, line",
    [
        ("not json", "not a training-set record (not JSON"),
        ('{"fs_record": 99}', "not a training-set record of format 1"),
    ],
)
def test_a_file_that_is_not_a_record_is_one_line_and_exit_2(project, tmp_path, cli, clean_env, content, line):
    bad = tmp_path / "bad.record.json"
    bad.write_text(content)
    code, stdout, err = fs(cli, project, "--reproduce", str(bad))
    assert (code, stdout) == (EXIT_USAGE, "")
    assert err.startswith(f"error: --reproduce {bad}: {line}") and err.count("\n") == 1


# -- OpenLineage ------------------------------------------------------------------------------


def lineage_env(monkeypatch, events: Path) -> None:
    monkeypatch.setenv("OPENLINEAGE__TRANSPORT__TYPE", "file")
    monkeypatch.setenv("OPENLINEAGE__TRANSPORT__LOG_FILE_PATH", str(events))
    monkeypatch.setenv("OPENLINEAGE__TRANSPORT__APPEND", "true")


def read_events(path: Path) -> list[dict]:
    events = [json.loads(line) for line in path.read_text().splitlines()]
    for event in events:
        jsonschema.validate(event, SCHEMA)
        # What the 2-0-2 specification adds to the vendored schema's rules.
        assert event["schemaURL"].startswith("https://openlineage.io/spec/2-0-")
        uuid.UUID(event["run"]["runId"])
    return events


def test_a_training_set_emits_start_and_complete_named_as_dbt_ol_names_them(project, tmp_path, cli, clean_env, monkeypatch):
    events_file = tmp_path / "events.jsonl"
    lineage_env(monkeypatch, events_file)
    out = tmp_path / "train.parquet"
    code, _, err = fs(cli, project, "--spine", "flight_delay_labels", "--features", FEATURES, "-o", str(out))
    assert (code, err) == (0, "")
    start, complete = read_events(events_file)
    assert (start["eventType"], complete["eventType"]) == ("START", "COMPLETE")
    assert start["run"]["runId"] == complete["run"]["runId"]
    assert complete["job"] == {**complete["job"], "namespace": "fs", "name": "flight_features.training_set.train.parquet"}
    # dbt-ol: namespace duckdb://<path as profiles.yml writes it>, name database.schema.model.
    assert [(d["namespace"], d["name"]) for d in complete["inputs"]] == [
        ("duckdb://feature_store.duckdb", "feature_store.main.weather_hourly"),
        ("duckdb://feature_store.duckdb", "feature_store.main.carrier_daily"),
        ("duckdb://feature_store.duckdb", "feature_store.main.flight_delay_labels"),
    ]
    assert [(d["namespace"], d["name"]) for d in complete["outputs"]] == [("file", str(out))]
    assert complete["outputs"][0]["outputFacets"]["outputStatistics"]["rowCount"] == pq.read_table(out).num_rows
    invocation = json.loads((project / "target" / "run_results.json").read_text())["metadata"]["invocation_id"]
    assert complete["run"]["facets"]["parent"]["run"]["runId"] == invocation
    parent_job = complete["run"]["facets"]["parent"]["job"]
    assert (parent_job["namespace"], parent_job["name"]) == ("dbt", "dbt-run-flight_features")
    assert "select" in complete["job"]["facets"]["sql"]["query"].lower()


VERSIONED = "plane_daily@v1:plane__seats,plane_daily:plane__is_widebody,origin_departures:origin_airport__count__1h"


def test_versions_and_an_aggregation_view_are_recorded_by_their_own_nodes_and_named_by_their_relations(
    project, spine_file, tmp_path, cli, clean_env, monkeypatch
):
    """plane_daily's two versions are two nodes (unique_id ....v1, ....v2) and two relations
    (aliases plane_daily and plane_daily_v2): the record, --reproduce and the lineage
    datasets keep them apart; the aggregation view is recorded as any view."""
    events_file = tmp_path / "events.jsonl"
    lineage_env(monkeypatch, events_file)
    out = tmp_path / "train.parquet"
    code, _, err = fs(cli, project, "--spine", str(spine_file), "--features", VERSIONED, "-o", str(out))
    assert (code, err) == (0, "")
    record = json.loads((tmp_path / "train.parquet.record.json").read_text())
    for view, node_id, version in [
        ("plane_daily@v1", "plane_daily.v1", 1), ("plane_daily@v2", "plane_daily.v2", 2), ("origin_departures", "origin_departures", None),
    ]:
        node = manifest_node(project, node_id)
        assert record["views"][view] == {
            "unique_id": f"model.flight_features.{node_id}", "version": version,
            "checksum": f"{node['checksum']['name']}:{node['checksum']['checksum']}", "relation": f"feature_store.main.{node['alias']}",
        }
    assert record["views"]["plane_daily@v1"]["checksum"] != record["views"]["plane_daily@v2"]["checksum"]
    _, complete = read_events(events_file)
    # dbt-ol names a model's relation database.schema.<alias>: each version its own dataset.
    assert [d["name"] for d in complete["inputs"]] == [
        "feature_store.main.plane_daily", "feature_store.main.plane_daily_v2", "feature_store.main.origin_departures", str(spine_file),
    ]
    code, stdout, err = fs(cli, project, "--reproduce", str(out) + ".record.json")
    assert (code, err) == (0, "") and stdout.startswith("identical: 2,000 rows")


def test_a_failed_training_set_emits_fail_and_exits_as_it_would(project, tmp_path, cli, clean_env, monkeypatch):
    events_file = tmp_path / "events.jsonl"
    lineage_env(monkeypatch, events_file)
    failing = "select *, case when flight_id > 200000 then error('boom') end as x from flight_delay_labels"
    code, _, err = fs(cli, project, "--spine-sql", failing, "--features", FEATURES, "-o", str(tmp_path / "t.parquet"))
    assert code == EXIT_WAREHOUSE and err.count("\n") == 1
    start, fail = read_events(events_file)
    assert (start["eventType"], fail["eventType"]) == ("START", "FAIL")
    assert "boom" in fail["run"]["facets"]["errorMessage"]["message"] and fail["outputs"] == []


def test_an_unreachable_lineage_endpoint_is_one_warning_and_the_command_succeeds(project, spine_file, tmp_path, cli, clean_env, monkeypatch):
    monkeypatch.setenv("OPENLINEAGE__TRANSPORT__TYPE", "http")
    monkeypatch.setenv("OPENLINEAGE__TRANSPORT__URL", "http://127.0.0.1:9")
    monkeypatch.setenv("OPENLINEAGE__TRANSPORT__RETRY", '{"total": 0}')
    code, stdout, err = fs(cli, project, "--spine", str(spine_file), "--features", FEATURES, "-o", str(tmp_path / "t.parquet"))
    assert code == 0 and stdout.startswith("2,000 rows")
    assert err.count("\n") == 1 and err.startswith("warning: lineage: events not sent (")


def test_lineage_is_off_unless_configured(project, spine_file, tmp_path, cli, clean_env, monkeypatch):
    monkeypatch.chdir(tmp_path)  # no openlineage.yml here either
    for name in [n for n in __import__("os").environ if n.startswith("OPENLINEAGE")]:
        monkeypatch.delenv(name)
    code, stdout, err = fs(cli, project, "--spine", str(spine_file), "--features", FEATURES, "-o", str(tmp_path / "t.parquet"))
    assert (code, err) == (0, "") and stdout.count("\n") == 1


def test_sync_and_push_emit_the_view_and_redis_as_dbt_ol_and_fs_name_them(tiny, online, tmp_path, cli, monkeypatch):
    from featurestore.redact import shown_url

    events_file = tmp_path / "events.jsonl"
    lineage_env(monkeypatch, events_file)
    tiny.set_rows([row("c1", 20)])
    assert cli("sync", "--project-dir", str(tiny.root))[0] == 0
    rows = tmp_path / "rows.parquet"
    pushed = {k: v for k, v in row("c1", 27).items() if k != "loaded_at"}
    pq.write_table(__import__("pyarrow").Table.from_pylist([pushed]), rows)
    code, _, err = cli("push", TINY_VIEW, "--file", str(rows), "--project-dir", str(tiny.root))
    assert (code, err) == (0, "")
    events = read_events(events_file)
    assert [(e["eventType"], e["job"]["name"]) for e in events] == [
        ("START", "demo.sync"), ("COMPLETE", "demo.sync"), ("START", f"demo.push.{TINY_VIEW}"), ("COMPLETE", f"demo.push.{TINY_VIEW}"),
    ]
    redis = (shown_url(online.url), f"{online.prefix}:{TINY_VIEW}")
    sync, push = events[1], events[3]
    assert [(d["namespace"], d["name"]) for d in sync["inputs"]] == [("duckdb://demo.duckdb", f"demo.main.{TINY_VIEW}")]
    assert [(d["namespace"], d["name"]) for d in sync["outputs"]] == [redis]
    assert [(d["namespace"], d["name"]) for d in push["inputs"]] == [("file", str(rows))]
    assert [(d["namespace"], d["name"]) for d in push["outputs"]] == [redis]


def test_the_feature_site_links_each_view_to_its_training_sets(project, spine_file, tmp_path, cli, clean_env):
    out = tmp_path / "linked.parquet"
    assert fs(cli, project, "--spine", str(spine_file), "--features", "carrier_daily:*", "-o", str(out))[0] == 0
    code, _, err = cli("docs", "--project-dir", str(project), "--out", str(tmp_path / "site"))
    assert code == 0
    import re

    page = (tmp_path / "site" / "views" / "carrier_daily.html").read_text()
    links = re.findall(r'<a href="([^"]+)">([^<]+)</a>: ([\d,]+) rows', page.split('id="training-sets"')[1].split("</ul>")[0])
    assert (tmp_path / "site" / "views" / links[0][0]).resolve() == Path(str(out) + ".record.json")
    assert links[0][1:] == (str(out), "2,000")
    # Every carrier_daily training set of this module is linked, none of another view's only.
    index = [json.loads(line) for line in (project / ".fs" / "records" / "index.jsonl").read_text().splitlines()]
    assert len(links) == sum("carrier_daily" in entry["views"] for entry in index)
    # No training set of this module reads route_daily (plane_daily is two versioned views now).
    other = (tmp_path / "site" / "views" / "route_daily.html").read_text()
    assert "no training set recorded" in other
