"""Every way a model's feature_store meta can be wrong gives one exact message and exit 3."""

from __future__ import annotations

import pytest

from featurestore.catalog.from_manifest import catalog_from_manifest
from featurestore.catalog.ttl import NotADuration, TtlOutOfRange
from featurestore.console import Console
from featurestore.errors import EXIT_PROJECT, MetaError
from tests.conftest import write_manifest_project
from tests.manifests import CUSTOMER_COLUMNS, CUSTOMER_META, exposure, manifest, model_node

VALID_DURATION = (
    "(valid: a number and a lower-case unit, s m h d or w, such as 90m, 3h or 30d; "
    "units combine largest first, each once, such as 1d12h)"
)
VALID_KEYS = "valid keys: entity, join_keys, timestamp, created_at, ttl, online, owner, features, freshness, checks, aggregations"


def customers(columns: list[str] = CUSTOMER_COLUMNS, types: dict[str, str] | None = None, **changes) -> dict:
    meta = {**CUSTOMER_META, **changes}
    return model_node("customer_stats", {k: v for k, v in meta.items() if v is not None}, columns, types=types)


BAD_CASES = {
    "unknown key": (
        [customers(tll="30d")],
        "models/customer_stats.yml: model 'customer_stats': unknown key 'tll' under "
        f"meta.feature_store (did you mean 'ttl'? {VALID_KEYS})",
    ),
    "missing timestamp": (
        [customers(timestamp=None)],
        "models/customer_stats.yml: model 'customer_stats': meta.feature_store.timestamp is "
        "missing (column holding when each value became true (required))",
    ),
    "timestamp not a column": (
        [customers(timestamp="event_ts")],
        "models/customer_stats.yml: model 'customer_stats': timestamp column 'event_ts' is not a "
        "column of the model (did you mean 'event_timestamp'? declared columns: customer_id, "
        "event_timestamp, orders_30d, spend_30d)",
    ),
    "join key not a column": (
        [customers(join_keys=["customer"])],
        "models/customer_stats.yml: model 'customer_stats': join key 'customer' is not a column "
        "of the model (did you mean 'customer_id'? declared columns: customer_id, "
        "event_timestamp, orders_30d, spend_30d)",
    ),
    "default join key not a column": (
        [
            model_node(
                "store_stats",
                {"entity": "store", "timestamp": "ts"},
                ["store", "ts", "visits"],
            )
        ],
        "models/store_stats.yml: model 'store_stats': join key 'store_id' (the default for "
        "entity 'store') is not a column of the model (did you mean 'store'? declared columns: "
        "store, ts, visits)",
    ),
    "entity with two sets of join keys": (
        [
            customers(),
            model_node(
                "customer_profile",
                {"entity": "customer", "join_keys": ["customer_id", "region"], "timestamp": "ts"},
                ["customer_id", "region", "ts", "age"],
            ),
        ],
        "models/customer_stats.yml: model 'customer_stats': entity 'customer' has join_keys "
        "['customer_id'] here but ['customer_id', 'region'] in view 'customer_profile' "
        "(models/customer_profile.yml) (every view of one entity must use the same join_keys, "
        "in the same order)",
    ),
    "duplicate feature": (
        [customers(features=["orders_30d", "spend_30d", "orders_30d"])],
        "models/customer_stats.yml: model 'customer_stats': feature 'orders_30d' is listed twice "
        "in meta.feature_store.features",
    ),
    "feature that is a key": (
        [customers(features=["customer_id"])],
        "models/customer_stats.yml: model 'customer_stats': feature 'customer_id' is a join key "
        "or timestamp column, not a feature",
    ),
    "bad ttl": (
        [customers(ttl="30 days")],
        "models/customer_stats.yml: model 'customer_stats': ttl '30 days' is not a duration " +
        VALID_DURATION,
    ),
    "ttl with an upper-case unit": (
        # 1M is not a month and not a minute: refused rather than read as 1m.
        [customers(ttl="1M")],
        "models/customer_stats.yml: model 'customer_stats': ttl '1M' is not a duration: units are "
        "lower case, so 'M' is not one; m is minutes, and there is no month unit " + VALID_DURATION,
    ),
    "ttl with a unit twice": (
        [customers(ttl="1d1d")],
        "models/customer_stats.yml: model 'customer_stats': ttl '1d1d' is not a duration: unit 'd' "
        "comes twice " + VALID_DURATION,
    ),
    "ttl with units smallest first": (
        [customers(ttl="12h1d")],
        "models/customer_stats.yml: model 'customer_stats': ttl '12h1d' is not a duration: 'd' "
        "comes after the smaller unit 'h' " + VALID_DURATION,
    ),
    "ttl with an unknown unit": (
        [customers(ttl="1y")],
        "models/customer_stats.yml: model 'customer_stats': ttl '1y' is not a duration: 'y' is not "
        "a unit " + VALID_DURATION,
    ),
    "ttl with digits other than 0-9": (
        # \d matched any script's digits, and int() reads them: '٣d' was 3 days.
        [customers(ttl="\u0663d")],
        "models/customer_stats.yml: model 'customer_stats': ttl '\u0663d' is not a duration " + VALID_DURATION,
    ),
    "ttl with full-width digits": (
        [customers(ttl="\uff13d")],
        "models/customer_stats.yml: model 'customer_stats': ttl '\uff13d' is not a duration " + VALID_DURATION,
    ),
    "freshness with an upper-case unit": (
        [customers(freshness="2H")],
        "models/customer_stats.yml: model 'customer_stats': freshness '2H' is not a duration: units "
        "are lower case, so 'H' is not one " + VALID_DURATION,
    ),
    "timestamp of a number type": (
        # Accepted before, then a Binder Error (exit 4) in every training set.
        [customers(timestamp="orders_30d", types={"event_timestamp": "timestamp", "orders_30d": "bigint"})],
        "models/customer_stats.yml: model 'customer_stats': timestamp column 'orders_30d' has data_type "
        "bigint, not a date or timestamp (date and time columns: event_timestamp)",
    ),
    "created_at of a text type": (
        [customers(created_at="loaded_at", columns=[*CUSTOMER_COLUMNS, "loaded_at"], types={"loaded_at": "varchar"})],
        "models/customer_stats.yml: model 'customer_stats': created_at column 'loaded_at' has data_type "
        "varchar, not a date or timestamp (date and time columns: none declared)",
    ),
    "zero ttl": (
        [customers(ttl="0d")],
        "models/customer_stats.yml: model 'customer_stats': ttl '0d' is zero "
        "(valid: more than zero and at most 36500d (100 years); leave ttl out for no limit)",
    ),
    "ttl over 100 years": (
        [customers(ttl="36499d24h1s")],
        "models/customer_stats.yml: model 'customer_stats': ttl '36499d24h1s' is longer than the maximum "
        "(valid: more than zero and at most 36500d (100 years); leave ttl out for no limit)",
    ),
    "ttl too large for a timedelta": (
        [customers(ttl="99999999999d")],
        "models/customer_stats.yml: model 'customer_stats': ttl '99999999999d' is longer than the maximum "
        "(valid: more than zero and at most 36500d (100 years); leave ttl out for no limit)",
    ),
    "missing entity": (
        [customers(entity=None)],
        "models/customer_stats.yml: model 'customer_stats': meta.feature_store.entity is missing "
        "(the entity the rows describe (required))",
    ),
    "entity not text": (
        # Present but of the wrong type: not "missing", which would send the user looking for it.
        [customers(entity=5)],
        "models/customer_stats.yml: model 'customer_stats': meta.feature_store.entity must be a name "
        "(text), not 5",
    ),
    "entity blank": (
        [customers(entity=" ")],
        "models/customer_stats.yml: model 'customer_stats': meta.feature_store.entity must be a name "
        "(text), not ' '",
    ),
    "owner not text": (
        [customers(owner=["growth"])],
        "models/customer_stats.yml: model 'customer_stats': meta.feature_store.owner must be a name "
        "(text), not ['growth']",
    ),
    "join_keys not a list": (
        [customers(join_keys=5)],
        "models/customer_stats.yml: model 'customer_stats': meta.feature_store.join_keys must be a "
        "non-empty list of column names, not 5",
    ),
    "features not a list of names": (
        [customers(features=[{"name": "orders_30d"}])],
        "models/customer_stats.yml: model 'customer_stats': meta.feature_store.features must be a "
        "non-empty list of column names, not [{'name': 'orders_30d'}]",
    ),
    "online not a boolean": (
        [customers(online="yes")],
        "models/customer_stats.yml: model 'customer_stats': meta.feature_store.online must be "
        "true or false, not 'yes'",
    ),
    "created_at not a column": (
        [customers(created_at="loaded_at")],
        "models/customer_stats.yml: model 'customer_stats': created_at column 'loaded_at' is not "
        "a column of the model (declared columns: customer_id, event_timestamp, orders_30d, "
        "spend_30d)",
    ),
    "no columns declared": (
        [model_node("bare", {"entity": "customer", "timestamp": "ts"}, [])],
        "models/bare.yml: model 'bare': declares no columns; a feature view lists its columns "
        "in YAML (add a `columns:` entry with name, description and data_type for each column)",
    ),
    "freshness not a duration": (
        [customers(freshness="soon")],
        "models/customer_stats.yml: model 'customer_stats': freshness 'soon' is not a duration " +
        VALID_DURATION,
    ),
    "freshness warning after its failure": (
        [customers(freshness={"warn_after": "3h", "fail_after": "2h"})],
        "models/customer_stats.yml: model 'customer_stats': freshness.warn_after is longer than "
        "freshness.fail_after (warn first: warn_after <= fail_after)",
    ),
    "misspelt check": (
        [customers(checks={"drfit": {"warn": 1}})],
        "models/customer_stats.yml: model 'customer_stats': unknown key 'drfit' under "
        "meta.feature_store.checks (did you mean 'drift'? valid keys: window, baseline, volume, nulls, drift, features)",
    ),
    "threshold not a number": (
        [customers(checks={"nulls": {"warn": "5%"}})],
        "models/customer_stats.yml: model 'customer_stats': checks.nulls.warn must be a number, zero or more, not '5%'",
    ),
    "warning threshold above the failure's": (
        [customers(checks={"volume": {"warn": 0.6}})],
        "models/customer_stats.yml: model 'customer_stats': checks.volume.warn (0.6) is above "
        "checks.volume.fail (0.5) (warn first: warn <= fail)",
    ),
    "window not a duration": (
        [customers(checks={"window": 7})],
        "models/customer_stats.yml: model 'customer_stats': checks.window '7' is not a duration " +
        VALID_DURATION,
    ),
    "checks for a feature the view lacks": (
        [customers(checks={"features": {"order_30d": {"drift": False}}})],
        "models/customer_stats.yml: model 'customer_stats': checks.features names 'order_30d', which is "
        "not a feature of the view (did you mean 'orders_30d'? features: orders_30d, spend_30d)",
    ),
    "unknown check of a feature": (
        [customers(checks={"features": {"orders_30d": {"volume": False}}})],
        "models/customer_stats.yml: model 'customer_stats': unknown key 'volume' under "
        "meta.feature_store.checks.features.orders_30d (valid keys: nulls, drift)",
    ),
    "feature name with a colon": (
        [model_node("customer_stats", CUSTOMER_META, [*CUSTOMER_COLUMNS, "ratio:7d"])],
        "models/customer_stats.yml: model 'customer_stats': feature 'ratio:7d' has a ':' in its name, "
        "which `customer_stats:<feature>` cannot name (rename the column, or list the other columns "
        "in meta.feature_store.features)",
    ),
    "service not depending on its view": (
        [customers()],
        "models/ml.yml: feature service 'churn': uses view 'customer_stats' but does not depend "
        "on it (add ref('customer_stats') to the exposure's depends_on so dbt's lineage shows it)",
    ),
}


@pytest.mark.parametrize("case", BAD_CASES, ids=list(BAD_CASES))
def test_bad_meta_is_one_clear_error(case):
    nodes, expected = BAD_CASES[case]
    exposures = [exposure("churn", ["customer_stats:orders_30d"], [])] if "service" in case else []
    with pytest.raises(MetaError) as raised:
        catalog_from_manifest(manifest(*nodes, exposures=exposures))
    assert str(raised.value) == expected


@pytest.mark.parametrize("case", ["unknown key", "misspelt check", "bad ttl", "ttl with an upper-case unit", "timestamp of a number type", "entity not text", "duplicate feature", "entity with two sets of join keys"])
def test_bad_meta_exits_3_with_the_message_on_stderr(tmp_path, cli, case):
    nodes, expected = BAD_CASES[case]
    project = write_manifest_project(tmp_path, manifest(*nodes))
    code, out, err = cli("catalog", "--project-dir", str(project))
    assert code == EXIT_PROJECT
    assert err == f"error: {expected}\n"
    assert out == ""


@pytest.mark.parametrize(
    "data_type", [None, "timestamp", "TIMESTAMP WITH TIME ZONE", "timestamptz", "timestamp_ntz(9)", "datetime", "date", "datetime2", "time"]
)
def test_a_timestamp_without_a_type_or_of_a_time_type_or_one_fs_does_not_know_is_accepted(data_type):
    # Only a declared type that is clearly no time (a number, text, boolean) is refused.
    types = {"event_timestamp": data_type, "loaded_at": data_type} if data_type else None
    node = customers(created_at="loaded_at", columns=[*CUSTOMER_COLUMNS, "loaded_at"], types=types)
    assert catalog_from_manifest(manifest(node)).view("customer_stats").timestamp == "event_timestamp"


def test_valid_view_is_typed_and_complete():
    node = model_node(
        "customer_stats",
        {**CUSTOMER_META, "created_at": "loaded_at"},
        ["customer_id", "event_timestamp", "loaded_at", "orders_30d", "spend_30d"],
        types={"orders_30d": "bigint", "spend_30d": "double"},
    )
    catalog = catalog_from_manifest(manifest(node))
    view = catalog.view("customer_stats")
    assert view.entity == "customer"
    assert view.join_keys == ("customer_id",)
    assert view.created_at == "loaded_at"
    assert view.ttl.days == 30
    assert view.online is True
    assert view.owner == "growth"
    assert view.feature_names == ("orders_30d", "spend_30d")
    assert view.feature("orders_30d").dtype == "bigint"
    assert str(view.relation) == "warehouse.main.customer_stats"
    assert view.upstream_sources == ("raw.events",)
    assert catalog.entities["customer"].views == ("customer_stats",)


def test_check_settings_default_to_the_ttl_and_fall_back_from_feature_to_view_to_defaults():
    from datetime import timedelta

    from featurestore.catalog.monitoring import DEFAULT_DRIFT, DEFAULT_NULLS, Freshness, Thresholds

    plain = catalog_from_manifest(manifest(customers())).view("customer_stats")
    assert plain.freshness == Freshness(warn_after=None, fail_after=timedelta(days=30))
    assert plain.checks.for_feature("orders_30d", "drift") == DEFAULT_DRIFT
    assert catalog_from_manifest(manifest(customers(ttl=None))).view("customer_stats").freshness is None

    checks = {
        "window": "1d",
        "volume": False,
        "nulls": {"warn": 0.05},
        "features": {"spend_30d": {"drift": {"fail": None}, "nulls": False}},
    }
    view = catalog_from_manifest(manifest(customers(freshness={"warn_after": "2h"}, checks=checks))).view("customer_stats")
    assert view.freshness == Freshness(warn_after=timedelta(hours=2), fail_after=None)
    assert (view.checks.window, view.checks.baseline, view.checks.volume) == (timedelta(days=1), timedelta(days=28), None)
    assert view.checks.for_feature("orders_30d", "nulls") == Thresholds(warn=0.05, fail=DEFAULT_NULLS.fail)
    assert view.checks.for_feature("spend_30d", "nulls") is None
    assert view.checks.for_feature("spend_30d", "drift") == Thresholds(warn=DEFAULT_DRIFT.warn, fail=None)
    assert hash(view)  # views stay usable as keys


def test_columns_the_yaml_quotes_are_known_as_quoted():
    node = model_node("customer_stats", CUSTOMER_META, [*CUSTOMER_COLUMNS, "Spend_7d"])
    node["columns"]["Spend_7d"]["quote"] = True
    node["columns"]["spend_30d"]["quote"] = False
    assert catalog_from_manifest(manifest(node)).view("customer_stats").quoted_columns == ("Spend_7d",)


def test_meta_in_the_older_top_level_place_is_read():
    node = model_node("customer_stats", CUSTOMER_META, CUSTOMER_COLUMNS, in_config=False)
    assert catalog_from_manifest(manifest(node)).view("customer_stats").entity == "customer"


def test_explicit_feature_list_limits_the_features():
    node = customers(features=["spend_30d"])
    assert catalog_from_manifest(manifest(node)).view("customer_stats").feature_names == ("spend_30d",)


def test_models_without_feature_meta_are_not_views():
    catalog = catalog_from_manifest(manifest(customers(), model_node("staging", None, ["a"])))
    assert list(catalog.views) == ["customer_stats"]


@pytest.mark.parametrize("name", ["__fs_at", "__FS_RANK", "__Fs_ts"])
def test_columns_named_like_the_internal_ones_are_refused_in_any_case(name):
    # fs's queries name their own columns __fs_...; engines compare names case-insensitively.
    node = model_node("customer_stats", CUSTOMER_META, [*CUSTOMER_COLUMNS, name])
    with pytest.raises(MetaError) as raised:
        catalog_from_manifest(manifest(node))
    assert str(raised.value) == (
        f"models/customer_stats.yml: model 'customer_stats': column '{name}' starts with __fs_, which is "
        "reserved for fs's own columns in any case (rename the column)"
    )


@pytest.mark.parametrize("key", ["feature_stor", "featurestore", "feature-store", "features_store", "Feature Store"])
@pytest.mark.parametrize("in_config", [True, False], ids=["config.meta", "meta"])
def test_a_near_miss_of_the_feature_store_key_is_a_warning_naming_model_file_and_key(key, in_config):
    typo = model_node("order_stats", None, CUSTOMER_COLUMNS, yaml_path="models/orders/schema.yml")
    (typo["config"]["meta"] if in_config else typo["meta"])[key] = dict(CUSTOMER_META)
    catalog = catalog_from_manifest(manifest(customers(), typo))
    assert list(catalog.views) == ["customer_stats"]
    assert catalog.warnings == (
        f"models/orders/schema.yml: model 'order_stats': meta key '{key}' is not 'feature_store', so the "
        "model is not a feature view; rename the key to 'feature_store' if it should be one",
    )


@pytest.mark.parametrize("key", ["features", "feature", "store", "owner", "feature_flags"])
def test_other_tools_meta_keys_are_not_warned_about(key):
    other = model_node("order_stats", None, CUSTOMER_COLUMNS)
    other["config"]["meta"][key] = {"x": 1}
    assert catalog_from_manifest(manifest(customers(), other)).warnings == ()


def test_no_warning_for_a_disabled_model_or_one_that_also_has_the_right_key():
    disabled = model_node("old_stats", None, CUSTOMER_COLUMNS)
    disabled["config"].update(enabled=False, meta={"feature_stor": {}})
    both = customers()
    both["config"]["meta"]["featurestore"] = {}
    assert catalog_from_manifest(manifest(both, disabled)).warnings == ()


def test_warnings_always_show_on_stderr(capsys):
    Console(verbose=False).warn("models/x.yml: model 'x': something to fix")
    assert capsys.readouterr() == ("", "warning: models/x.yml: model 'x': something to fix\n")


@pytest.mark.parametrize(
    "case,cause",
    [
        ("bad ttl", NotADuration), ("ttl with an upper-case unit", NotADuration),
        ("freshness with an upper-case unit", NotADuration), ("window not a duration", NotADuration),
        ("zero ttl", TtlOutOfRange),
    ],
)
def test_a_duration_refused_keeps_the_parsers_error_as_its_cause(case, cause):
    nodes, _ = BAD_CASES[case]
    with pytest.raises(MetaError) as raised:
        catalog_from_manifest(manifest(*nodes))
    assert isinstance(raised.value.__cause__, cause)


def test_a_duration_refused_shows_its_cause_under_debug(tmp_path, cli):
    nodes, expected = BAD_CASES["ttl with an upper-case unit"]
    project = write_manifest_project(tmp_path, manifest(*nodes))
    code, out, err = cli("catalog", "--project-dir", str(project), "--debug")
    assert (code, out) == (EXIT_PROJECT, "")
    assert "featurestore.catalog.ttl.NotADuration: 1M\n\nThe above exception was the direct cause" in err
    assert err.endswith(f"error: {expected}\n")
