"""Which dbt tests tell fs that a view has one row per (join keys, timestamp), so that it
skips the tie-break (docs/training-sets.md): a test that guarantees it once `dbt build`
passes does; one that checks only some rows, or lets some duplicates pass, must not, or
ties would be broken by chance."""

from __future__ import annotations

import pytest

from featurestore.catalog.from_manifest import catalog_from_manifest
from tests.manifests import CUSTOMER_COLUMNS, CUSTOMER_META, manifest, model_node

MODEL = "model.demo.customer_stats"


def dbt_test(name: str, kwargs: dict, namespace: str | None = None, **config) -> dict:
    return {
        "unique_id": f"test.demo.{name}.{abs(hash((name, str(kwargs), str(config))))}",
        "resource_type": "test",
        "name": name,
        "attached_node": MODEL,
        "test_metadata": {"name": name, "kwargs": {**kwargs, "model": "{{ get_where_subquery(ref('customer_stats')) }}"}, "namespace": namespace},
        "config": {"enabled": True, "severity": "ERROR", "error_if": "!= 0", "warn_if": "!= 0", "where": None, **config},
        "depends_on": {"nodes": [MODEL]},
    }


OURS = ("feature_unique_entity_timestamp", {"join_keys": ["customer_id"], "timestamp": "event_timestamp"}, None)
DBT_UTILS = ("unique_combination_of_columns", {"combination_of_columns": ["event_timestamp", "customer_id"]}, "dbt_utils")


def unique_by_test(*tests: dict) -> bool:
    model = model_node("customer_stats", CUSTOMER_META, CUSTOMER_COLUMNS)
    document = manifest(model)
    document["nodes"].update({t["unique_id"]: t for t in tests})
    return catalog_from_manifest(document).view("customer_stats").rows_unique_by_test


@pytest.mark.parametrize(
    "declared",
    [
        pytest.param(dbt_test(*OURS[:2], OURS[2]), id="feature_unique_entity_timestamp"),
        pytest.param(dbt_test(*DBT_UTILS[:2], DBT_UTILS[2]), id="dbt_utils.unique_combination_of_columns, any column order"),
        pytest.param(dbt_test("unique", {"column_name": "customer_id"}), id="unique on a join key"),
        pytest.param(dbt_test("unique", {"column_name": "event_timestamp"}), id="unique on the timestamp"),
        pytest.param(dbt_test(*OURS[:2], OURS[2], severity="error"), id="severity in lower case"),
        pytest.param(dbt_test(*OURS[:2], OURS[2], error_if="> 0"), id="error_if > 0 is any failure too"),
        pytest.param(dbt_test(*OURS[:2], OURS[2], error_if=">=1"), id="error_if >= 1"),
        pytest.param(dbt_test(*OURS[:2], OURS[2], limit=5), id="a limit above 0 still counts a failure"),
    ],
)
def test_a_test_that_guarantees_one_row_per_key_and_time_counts(declared):
    assert unique_by_test(declared)


@pytest.mark.parametrize(
    "declared",
    [
        pytest.param(dbt_test(*OURS[:2], OURS[2], severity="warn"), id="a warning does not stop dbt build"),
        pytest.param(dbt_test(*OURS[:2], OURS[2], enabled=False), id="disabled"),
        pytest.param(dbt_test(*OURS[:2], OURS[2], where="event_timestamp > '2024-01-01'"), id="checks only rows a where selects"),
        pytest.param(dbt_test(*DBT_UTILS[:2], DBT_UTILS[2], where="customer_id < 10"), id="dbt_utils with a where"),
        pytest.param(dbt_test(*OURS[:2], OURS[2], error_if="> 10"), id="fails only past 10 duplicates"),
        pytest.param(dbt_test(*OURS[:2], OURS[2], limit=0), id="limit 0 counts no failure"),
        pytest.param(dbt_test("unique", {"column_name": "spend_30d"}), id="unique on a feature says nothing of (key, time)"),
        pytest.param(
            dbt_test("unique_combination_of_columns", {"combination_of_columns": ["customer_id", "event_timestamp"]}, "someone_else"),
            id="another package's test of the same name",
        ),
        pytest.param(
            dbt_test("unique_combination_of_columns", {"combination_of_columns": ["customer_id", "event_timestamp"], "quote_columns": True}, "dbt_utils", where="1 = 0"),
            id="dbt_utils with a where that selects nothing",
        ),
        pytest.param(
            dbt_test(*DBT_UTILS[:1], {"combination_of_columns": ["customer_id", "event_timestamp", "orders_30d"]}, DBT_UTILS[2]),
            id="unique with a feature column added is weaker",
        ),
    ],
)
def test_a_test_that_leaves_duplicates_possible_does_not_count(declared):
    assert not unique_by_test(declared)
