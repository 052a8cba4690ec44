"""On-demand groups: the YAML and the expression language, checked when the catalog is read;
every way they can be wrong gives one line naming the group and its file (exit 3), and what
is accepted is typed and made explicit for every engine."""

from __future__ import annotations

import pytest

from featurestore.catalog.from_manifest import catalog_from_manifest
from featurestore.errors import EXIT_PROJECT, MetaError, UsageError
from featurestore.sql.expressions import render
from featurestore.sql.on_demand import on_demand_column_expression
from tests.manifests import manifest, model_node

TYPES = {"customer_id": "varchar", "ts": "timestamp", "orders": "bigint", "spend": "double", "tier": "varchar", "rate": "decimal(10,2)", "seen_at": "timestamp"}


def group(features: list[dict], request: dict | None = None, name: str = "basket", depends_on=("stats",), **extra) -> dict:
    body = {"request": {"amount": "double", "items": "bigint"} if request is None else request, "features": features}
    return {
        "name": name,
        "resource_type": "exposure",
        "original_file_path": "models/ml.yml",
        "description": "Basket features.",
        "owner": {"name": "ml"},
        "depends_on": {"nodes": [f"model.demo.{d}" for d in depends_on]},
        "config": {"meta": {"feature_store": {"on_demand": body, **extra}}},
        "meta": {},
    }


def catalog(*groups: dict):
    view = model_node("stats", {"entity": "customer", "timestamp": "ts"}, list(TYPES), types=TYPES)
    return catalog_from_manifest(manifest(view, exposures=list(groups)))


def one(sql: str, **feature) -> dict:
    return {"name": "f", "sql": sql, **feature}


BAD = {
    "unknown group key": (group([one("items")], featurs=[]), "meta.feature_store of an on-demand group takes one key, 'on_demand'"),
    "unknown feature key": (group([{"name": "f", "sql": "items", "typ": "bigint"}]), "unknown key 'typ' under meta.feature_store.on_demand.features[1]"),
    "bad request type": (group([one("items")], request={"items": "decimal"}), "request field 'items' has type 'decimal' (valid types: bigint, double, boolean, varchar, timestamp)"),
    "not sql": (group([one("items +")]), "feature 'f': sql 'items +' is not valid duckdb SQL"),
    "a query": (group([one("select 1")]), "feature 'f': sql 'select 1' must be one expression, without SELECT or AS"),
    "unknown field": (group([one("itemz * 2")]), "feature 'f': 'itemz' is neither a request field nor view.feature (did you mean 'items'?"),
    "unknown view": (group([one("stat.orders")]), "feature 'f': reads 'stat.orders', but 'stat' is not a feature view (did you mean 'stats'?)"),
    "unknown feature": (group([one("stats.order")]), "feature 'f': reads 'stats.order', which is not a feature of 'stats' (did you mean 'orders'?)"),
    "untyped input": (group([one("stats.rate")]), "feature 'f': reads 'stats.rate', whose data_type (decimal(10,2)) is none of bigint, double, boolean, varchar, timestamp"),
    "no lineage": (group([one("stats.orders")], depends_on=()), "feature 'f': reads view 'stats' but does not depend on it (add ref('stats')"),
    "function": (group([one("sqrt(amount)")]), "feature 'f': 'SQRT(amount)' is not in the on-demand language (allowed: view.feature"),
    "round": (group([one("round(amount)")]), "feature 'f': 'ROUND(amount)': round() breaks ties differently in each engine"),
    "ordered text": (group([one("stats.tier < 'b'")]), "feature 'f': 'stats.tier < 'b'' orders text, which engines order by their own collations"),
    "double modulo": (group([one("amount % 2")]), "feature 'f': 'amount % 2' applies % to a double (% takes bigints; for doubles write floor(a / b))"),
    "timestamp difference": (group([one("stats.seen_at - stats.seen_at")]), "write epoch(a) - epoch(b) for the seconds between them"),
    "month interval": (group([one("stats.seen_at + interval 1 month")]), "is not an interval fs can compute alike everywhere"),
    "text of a double": (group([one("cast(amount as varchar)")]), "casts a double to varchar, which engines do not do alike"),
    "type mismatch": (group([one("items * 2", data_type="double")]), "feature 'f' declares data_type double but its sql gives a bigint (cast the expression: CAST(... AS DOUBLE))"),
    "mixed case": (group([one("case when items > 1 then 'many' else items end")]), "mixes bigint and varchar"),
    "name of a view": (group([one("items")], name="stats"), "shares its name with feature view 'stats'"),
    "twice": (group([one("items"), one("amount")]), "feature 'f' is declared twice"),
    "field typed twice": (
        [group([one("items")]), group([one("items")], name="cart", request={"items": "double"})],
        "request field 'items' is double here but bigint in on-demand group 'basket'",
    ),
}


@pytest.mark.parametrize("case", BAD, ids=list(BAD))
def test_bad_group_is_one_line_naming_the_group(case):
    groups, expected = BAD[case]
    with pytest.raises(MetaError) as raised:
        catalog(*(groups if isinstance(groups, list) else [groups]))
    assert expected in str(raised.value)
    assert str(raised.value).startswith("models/ml.yml: on-demand group '")
    assert "\n" not in str(raised.value) and raised.value.exit_code == EXIT_PROJECT


def test_group_features_are_typed_and_resolved_with_their_inputs():
    found = catalog(group([one("stats.spend / items"), {"name": "g", "sql": "coalesce(stats.orders, items) // 2"}]))
    basket = found.on_demand["basket"]
    assert [(f.ref, f.dtype) for f in basket.features] == [("basket:f", "double"), ("basket:g", "bigint")]
    selected = found.resolve_on_demand(["basket:*", "stats:tier"])
    assert [f.ref for f in selected.features] == ["basket:f", "basket:g"]
    assert [(s.view.name, [f.name for f in s.features]) for s in selected.inputs] == [("stats", ["spend", "orders"])]
    assert [s.view.name for s in found.resolve(["basket:*", "stats:tier"])] == ["stats"]
    with pytest.raises(UsageError, match="on-demand group 'basket' has no feature 'h'; valid: f, g"):
        found.resolve(["basket:h"])


def test_the_explicit_form_is_what_each_engine_gets():
    # Double division and a null for a zero divisor, whatever the engine's own defaults.
    feature = catalog(group([one("stats.orders / items")])).on_demand["basket"].features[0]
    columns = {("stats", "orders"): "orders"}
    expression = on_demand_column_expression(feature, columns)
    assert render(expression, "postgres") == (
        'CAST("__fs_pit"."orders" AS DOUBLE PRECISION) / NULLIF(CAST(CAST("__fs_pit"."items" AS BIGINT) AS DOUBLE PRECISION), 0)'
    )
    assert render(expression, "duckdb") == (
        'CAST("__fs_pit"."orders" AS DOUBLE) / NULLIF(CAST(CAST("__fs_pit"."items" AS BIGINT) AS DOUBLE), 0)'
    )
