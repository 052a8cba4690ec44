"""A feature view that is not built, or is older than its YAML: every command that reads it
names the view and says to run fs build (exit 4), and --debug shows the engine's own error."""

from __future__ import annotations

import json
import subprocess
import sys

import duckdb
import pytest

from featurestore import FeatureStore
from featurestore.errors import EXIT_WAREHOUSE, SyncIncomplete
from tests.conftest import project_env
from tests.integration.test_red_team_findings import views_project
from tests.online_fixtures import TINY_COLUMNS, TINY_VIEW, TinyProject, online, row, tiny, write_tiny_manifest  # noqa: F401

pytestmark = pytest.mark.integration

NOT_BUILT = (
    f"error: feature view '{TINY_VIEW}' is not built: demo.main.{TINY_VIEW} does not exist in the warehouse; "
    "run `fs build` (or `dbt build`)\n"
)


@pytest.fixture
def unbuilt(tmp_path, online):
    """The tiny project, its DuckDB file created but the view's table not."""
    write_tiny_manifest(tmp_path, TINY_COLUMNS)
    duckdb.connect(str(tmp_path / "demo.duckdb")).close()
    return TinyProject(tmp_path)


@pytest.mark.parametrize("command", [["sync"], ["sync", "--full"], ["verify-online"]])
def test_online_commands_name_the_unbuilt_view(unbuilt, cli, command):
    code, out, err = cli(*command, "--project-dir", str(unbuilt.root))
    assert (code, out, err) == (EXIT_WAREHOUSE, "", NOT_BUILT)


def test_a_training_set_names_the_unbuilt_view(unbuilt, cli, tmp_path):
    spine = tmp_path / "spine.csv"
    spine.write_text("customer_id,event_timestamp\nc1,2024-02-20 00:00:00\n")
    code, _, err = cli(
        "training-set", "--spine", str(spine), "--features", f"{TINY_VIEW}:orders", "-o", str(tmp_path / "o.parquet"),
        "--project-dir", str(unbuilt.root),
    )
    assert (code, err) == (EXIT_WAREHOUSE, NOT_BUILT)


def test_a_column_the_yaml_declares_but_the_table_lacks_says_to_build_or_fix_the_sql(tiny, cli):
    """Without the SQL dbt compiled (this manifest has none), fs cannot tell a table older
    than the SQL from SQL that lacks the column: both are said. test_model_refusals.py has
    each told apart once the manifest holds the SQL."""
    tiny.set_rows([row("c1", 20)], types={k: v for k, v in TINY_COLUMNS.items() if k != "tier"})
    code, _, err = cli("sync", "--project-dir", str(tiny.root))
    assert code == EXIT_WAREHOUSE
    assert err == (
        f"error: feature view '{TINY_VIEW}': demo.main.{TINY_VIEW} has no column(s) tier that its YAML declares; "
        "run `fs build` (or `dbt build`): if still missing then, the model's SQL does not produce it\n"
    )


def test_debug_shows_the_engines_own_error(unbuilt, online):
    environment = {**project_env(), "FS_REDIS_URL": online.url, "FS_KEY_PREFIX": online.prefix}
    result = subprocess.run(
        [sys.executable, "-m", "featurestore.cli", "sync", "--debug", "--project-dir", str(unbuilt.root)],
        capture_output=True, text=True, env=environment,
    )
    assert result.returncode != 0
    assert f"Catalog Error: Table with name {TINY_VIEW} does not exist" in result.stderr  # the driver's error
    assert "ViewNotBuilt" in result.stderr and "run `fs build`" in result.stderr



def test_several_failed_views_are_each_named_and_the_rest_synced(tmp_path, online, cli):
    views_project(tmp_path, built=["b_view"], unbuilt=["a_view", "c_view"])
    code, out, err = cli("sync", "--json", "--project-dir", str(tmp_path))
    assert code == EXIT_WAREHOUSE
    lines = err.splitlines()
    assert lines == [
        "error: feature view 'a_view' is not built: demo.main.a_view does not exist in the warehouse; "
        "run `fs build` (or `dbt build`)",
        "error: feature view 'c_view' is not built: demo.main.c_view does not exist in the warehouse; "
        "run `fs build` (or `dbt build`)",
        "error: 2 of 3 views could not be synced, each said above (1 other view was synced)",
    ]
    summary = json.loads(out)
    assert summary["failed"] == ["a_view", "c_view"] and summary["keys_written"] == 1
    assert [v["view"] for v in summary["views"] if v["error"] is None] == ["b_view"]
    assert online.entity("b_view", "customer_id=c1")["orders"] == "1"
    # Without --json, stdout has the one line of what was done (for a log), stderr the errors.
    code, out, _ = cli("sync", "--project-dir", str(tmp_path))
    assert code == EXIT_WAREHOUSE and out.startswith(f"synced 1 of 3 views to {online.url} ({online.prefix}): 0 rows read")


def test_the_python_api_raises_with_what_was_done(tmp_path, online):
    views_project(tmp_path, built=["b_view"], unbuilt=["a_view"])
    store = FeatureStore(project_dir=tmp_path)
    with pytest.raises(SyncIncomplete) as raised:
        store.sync()
    assert raised.value.exit_code == EXIT_WAREHOUSE and list(raised.value.failed) == ["a_view"]
    assert str(raised.value).endswith("run `fs build` (or `dbt build`) (1 other view was synced)")
    assert [v.keys_written for v in raised.value.summary.views] == [0, 1]


def test_a_column_several_views_declare_is_blamed_on_the_view_that_lacks_it(tmp_path, online, cli):
    views_project(tmp_path, built=["a_view", "b_view"])
    with duckdb.connect(str(tmp_path / "demo.duckdb")) as con:  # b_view built before its loaded_at was added
        con.execute("alter table main.b_view drop column loaded_at")
    spine = tmp_path / "spine.csv"
    spine.write_text("customer_id,event_timestamp\nc1,2024-02-21 00:00:00\n")
    code, _, err = cli(
        "training-set", "--spine", str(spine), "--features", "a_view:orders,b_view:orders", "--full-names",
        "-o", str(tmp_path / "o.parquet"), "--project-dir", str(tmp_path),
    )
    assert (code, err) == (
        EXIT_WAREHOUSE,
        "error: feature view 'b_view': demo.main.b_view has no column(s) loaded_at that its YAML declares; "
        "run `fs build` (or `dbt build`): if still missing then, the model's SQL does not produce it\n",
    )
