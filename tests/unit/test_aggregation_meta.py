"""Aggregation views: the declaration's names and types, and every bad input as one line, exit 3."""

from __future__ import annotations

from datetime import timedelta

import pytest

from featurestore.catalog.from_manifest import catalog_from_manifest
from featurestore.catalog.ttl import NotADuration, TtlOutOfRange
from featurestore.errors import EXIT_PROJECT, EXIT_USAGE, MetaError, UsageError
from tests.conftest import write_manifest_project
from tests.manifests import manifest, model_node

COLUMNS = ["origin", "scheduled_departure", "loaded_at", "dep_delay", "carrier", "distance"]
TYPES = {"origin": "varchar", "scheduled_departure": "timestamp", "loaded_at": "timestamp",
         "dep_delay": "integer", "carrier": "varchar", "distance": "double"}
WHERE = "models/origin_departures.yml: model 'origin_departures': "


def departures(aggregations, **meta) -> dict:
    settings = {"entity": "origin", "join_keys": ["origin"], "timestamp": "scheduled_departure",
                "created_at": "loaded_at", "aggregations": aggregations, **meta}
    return model_node("origin_departures", settings, COLUMNS, types=TYPES)


def test_names_types_and_columns_read():
    node = departures([
        {"column": "dep_delay", "function": ["count", "sum", "avg", "max", "stddev", "last"], "windows": ["1h", "7d"]},
        {"column": "*", "function": "count", "windows": "90m"},
        {"column": "carrier", "function": "count_distinct", "windows": ["24h"]},
    ])
    view = catalog_from_manifest(manifest(node)).view("origin_departures")
    assert view.is_aggregation
    types = {f.name: f.dtype for f in view.features}
    assert types == {
        "origin__dep_delay_count__1h": "BIGINT", "origin__dep_delay_count__7d": "BIGINT",
        "origin__dep_delay_sum__1h": "BIGINT", "origin__dep_delay_sum__7d": "BIGINT",
        "origin__dep_delay_avg__1h": "DOUBLE", "origin__dep_delay_avg__7d": "DOUBLE",
        "origin__dep_delay_max__1h": "integer", "origin__dep_delay_max__7d": "integer",
        "origin__dep_delay_stddev__1h": "DOUBLE", "origin__dep_delay_stddev__7d": "DOUBLE",
        "origin__dep_delay_last__1h": "integer", "origin__dep_delay_last__7d": "integer",
        "origin__count__90m": "BIGINT", "origin__carrier_count_distinct__24h": "BIGINT",
    }
    assert view.columns == ("origin", "scheduled_departure", "loaded_at", "dep_delay", "carrier")
    assert view.aggregation("origin__count__90m").window == timedelta(minutes=90)
    assert view.aggregation("origin__count__90m").column is None


VALID_DURATION = (
    "(valid: a number and a lower-case unit, s m h d or w, such as 90m, 3h or 30d; "
    "units combine largest first, each once, such as 1d12h)"
)
VALID_FUNCTIONS = "count, sum, avg, min, max, stddev, last, count_distinct, approx_count_distinct"
BAD = {
    "unknown function": (
        [{"column": "dep_delay", "function": "p99", "windows": ["1h"]}],
        "meta.feature_store.aggregations[0].function 'p99' is not an aggregate function (valid: " + VALID_FUNCTIONS + ")",
    ),
    "misspelt function": (
        [{"column": "dep_delay", "function": ["count", "stdev"], "windows": ["1h"]}],
        "meta.feature_store.aggregations[0].function 'stdev' is not an aggregate function "
        "(did you mean 'stddev'? valid: " + VALID_FUNCTIONS + ")",
    ),
    "bad window": (
        [{"column": "dep_delay", "function": "count", "windows": ["1 hour"]}],
        "meta.feature_store.aggregations[0]: window '1 hour' is not a duration " + VALID_DURATION,
    ),
    "upper-case window": (
        # 1M would otherwise be one minute under a name that reads as a month.
        [{"column": "*", "function": "count", "windows": ["1d", "7d", "1M"]}],
        "meta.feature_store.aggregations[0]: window '1M' is not a duration: units are lower case, so 'M' "
        "is not one; m is minutes, and there is no month unit; the window's text is in its features' names, "
        "so writing it as 1m renames them " + VALID_DURATION,
    ),
    "window with a unit twice": (
        [{"column": "*", "function": "count", "windows": ["1d1d"]}],
        "meta.feature_store.aggregations[0]: window '1d1d' is not a duration: unit 'd' comes twice; the "
        "window's text is in its features' names, so writing it as 2d renames them " + VALID_DURATION,
    ),
    "window with an upper-case unit an older fs read": (
        # Fixing the spelling renames origin__count__7D to origin__count__7d: services naming it break.
        [{"column": "*", "function": "count", "windows": ["7D"]}],
        "meta.feature_store.aggregations[0]: window '7D' is not a duration: units are lower case, so 'D' "
        "is not one; the window's text is in its features' names, so writing it as 7d renames them " + VALID_DURATION,
    ),
    "window with units smallest first": (
        [{"column": "*", "function": "count", "windows": ["30m2W"]}],
        "meta.feature_store.aggregations[0]: window '30m2W' is not a duration: units are lower case, so 'W' "
        "is not one; the window's text is in its features' names, so writing it as 2w30m renames them " + VALID_DURATION,
    ),
    "window with digits other than 0-9": (
        [{"column": "*", "function": "count", "windows": ["\u0663d"]}],
        "meta.feature_store.aggregations[0]: window '\u0663d' is not a duration; the window's text is in its "
        "features' names, so writing it as 3d renames them " + VALID_DURATION,
    ),
    "zero window": (
        [{"column": "dep_delay", "function": "count", "windows": ["0h"]}],
        "meta.feature_store.aggregations[0]: window '0h' is zero or longer than the maximum "
        "(valid: more than zero and at most 36500d (100 years))",
    ),
    "column not in the model": (
        [{"column": "dep_dely", "function": "count", "windows": ["1h"]}],
        "meta.feature_store.aggregations[0].column 'dep_dely' is not a column of the model (did you mean "
        "'dep_delay'? declared columns: origin, scheduled_departure, loaded_at, dep_delay, carrier, distance)",
    ),
    "count_distinct of a float": (
        [{"column": "distance", "function": "count_distinct", "windows": ["1h"]}],
        "meta.feature_store.aggregations[0]: count_distinct of 'distance' (double): distinct floating-point "
        "values are not well defined (cast the column to an integer, decimal or text in the model)",
    ),
    "sum of text": (
        [{"column": "carrier", "function": "sum", "windows": ["1h"]}],
        "meta.feature_store.aggregations[0]: sum of 'carrier' needs a number, and its data_type is varchar "
        "(valid: count, min, max, last, count_distinct, approx_count_distinct for other types)",
    ),
    "star with avg": (
        [{"column": "*", "function": "avg", "windows": ["1h"]}],
        'meta.feature_store.aggregations[0]: column "*" takes only count, not avg (name a column for avg)',
    ),
    "key aggregated": (
        [{"column": "origin", "function": "count", "windows": ["1h"]}],
        "meta.feature_store.aggregations[0].column 'origin' is a join key or timestamp column "
        '(aggregate a value column, or "*" with count)',
    ),
    "missing windows": (
        [{"column": "dep_delay", "function": "count"}],
        "meta.feature_store.aggregations[0].windows is missing (a list of durations such as [1h, 24h, 7d])",
    ),
    "unknown entry key": (
        [{"column": "dep_delay", "function": "count", "window": ["1h"]}],
        "unknown key 'window' under meta.feature_store.aggregations[0] (did you mean 'windows'? "
        "valid keys: column, function, windows)",
    ),
    "same feature twice": (
        [{"column": "dep_delay", "function": "count", "windows": ["1h"]},
         {"column": "dep_delay", "function": ["max", "count"], "windows": ["1h"]}],
        "meta.feature_store.aggregations[1] declares feature 'origin__dep_delay_count__1h' a second time",
    ),
    "empty list": ([], "meta.feature_store.aggregations must be a non-empty list of {column, function, windows} entries"),
}


@pytest.mark.parametrize("case", sorted(BAD))
def test_bad_aggregation_is_one_line(case):
    aggregations, expected = BAD[case]
    with pytest.raises(MetaError) as raised:
        catalog_from_manifest(manifest(departures(aggregations)))
    assert str(raised.value) == WHERE + expected


@pytest.mark.parametrize("case, cause", [("bad window", NotADuration), ("upper-case window", NotADuration), ("zero window", TtlOutOfRange)])
def test_a_window_refused_keeps_the_parsers_error_as_its_cause(case, cause):
    aggregations, _ = BAD[case]
    with pytest.raises(MetaError) as raised:
        catalog_from_manifest(manifest(departures(aggregations)))
    assert isinstance(raised.value.__cause__, cause)


@pytest.mark.parametrize("key, value, why", [
    ("ttl", "7d", "each window bounds its aggregation"), ("features", ["dep_delay"], "its features are its aggregations"),
])
def test_ttl_and_features_are_refused_beside_aggregations(key, value, why):
    node = departures([{"column": "dep_delay", "function": "count", "windows": ["1h"]}], **{key: value})
    with pytest.raises(MetaError) as raised:
        catalog_from_manifest(manifest(node))
    assert str(raised.value) == WHERE + f"meta.feature_store.{key} is not allowed beside aggregations: {why} (remove {key})"


@pytest.mark.parametrize("case", ["unknown function", "window with an upper-case unit an older fs read"])
def test_bad_aggregation_exits_3_with_one_line(tmp_path, cli, case):
    aggregations, expected = BAD[case]
    project = write_manifest_project(tmp_path, manifest(departures(aggregations)))
    code, out, err = cli("catalog", "--project-dir", str(project))
    assert (code, out, err) == (EXIT_PROJECT, "", f"error: {WHERE}{expected}\n")


def test_aggregation_views_are_online_views():
    node = departures([{"column": "dep_delay", "function": "count", "windows": ["1h"]}], online=True)
    catalog = catalog_from_manifest(manifest(node))
    assert [v.name for v in catalog.online_views()] == ["origin_departures"]
    catalog.refuse_offline(catalog.resolve(["origin_departures:*"]))  # served online: no refusal


def _edited(node: dict, **entry) -> dict:
    import copy

    changed = copy.deepcopy(node)
    aggregations = changed["config"]["meta"]["feature_store"]["aggregations"]
    aggregations[0] = {**aggregations[0], **entry}
    return changed


@pytest.mark.parametrize("edit", [{"windows": ["2h", "24h"]}, {"function": ["max"]}, {"column": "distance"}])
def test_a_changed_window_function_or_column_reaches_the_services_that_use_it(edit):
    from featurestore.governance.diff import Impact, diff_manifests
    from tests.manifests import exposure

    node = departures([{"column": "dep_delay", "function": ["avg"], "windows": ["1h", "24h"]}])
    node["checksum"] = {"name": "sha256", "checksum": "a"}
    services = [
        exposure("uses_1h", ["origin_departures:origin__dep_delay_avg__1h"], ["origin_departures"]),
        exposure("uses_all", ["origin_departures:*"], ["origin_departures"]),
    ]
    deployed = manifest(node, exposures=services)
    report = diff_manifests(manifest(_edited(node, **edit), exposures=services), deployed, "prod/manifest.json")
    impacts = {s.name: s.impact for s in report.services}
    assert impacts == {"uses_1h": Impact.BREAKING, "uses_all": Impact.BREAKING}
    with pytest.raises(Exception) as raised:
        report.raise_if_breaking()
    assert raised.value.services == ["uses_1h", "uses_all"]


def test_an_unchanged_feature_of_an_edited_view_leaves_its_service_alone():
    from featurestore.governance.diff import Impact, diff_manifests
    from tests.manifests import exposure

    node = departures([{"column": "dep_delay", "function": ["avg"], "windows": ["1h", "24h"]}])
    services = [exposure("uses_24h", ["origin_departures:origin__dep_delay_avg__24h"], ["origin_departures"])]
    report = diff_manifests(
        manifest(_edited(node, windows=["2h", "24h"]), exposures=services), manifest(node, exposures=services), "prod/manifest.json"
    )
    assert [s.impact for s in report.services] == [Impact.UNCHANGED]
