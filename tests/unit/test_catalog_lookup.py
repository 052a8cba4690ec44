from __future__ import annotations

from datetime import timedelta

import pytest

from featurestore.catalog import Catalog
from featurestore.catalog.from_manifest import catalog_from_manifest
from featurestore.errors import EXIT_USAGE, UsageError
from featurestore.catalog.ttl import MAX_TTL, TtlOutOfRange, format_ttl, older_spellings, parse_ttl
from tests.manifests import CUSTOMER_COLUMNS, CUSTOMER_META, exposure, manifest, model_node


@pytest.fixture
def catalog() -> Catalog:
    customers = model_node("customer_stats", CUSTOMER_META, CUSTOMER_COLUMNS)
    stores = model_node(
        "store_stats",
        {"entity": "store", "timestamp": "ts", "owner": "retail"},
        ["store_id", "ts", "visits_7d"],
    )
    service = exposure("churn", ["customer_stats:*", "store_stats:visits_7d"], ["customer_stats", "store_stats"])
    return catalog_from_manifest(manifest(customers, stores, exposures=[service]))


def test_resolve_features_views_and_services(catalog):
    selections = catalog.resolve(["store_stats:visits_7d", "customer_stats:spend_30d", "customer_stats:*"])
    assert [(s.view.name, [f.name for f in s.features]) for s in selections] == [
        ("store_stats", ["visits_7d"]),
        ("customer_stats", ["spend_30d", "orders_30d"]),
    ]
    service = catalog.resolve(["churn"])
    assert [(s.view.name, len(s.features)) for s in service] == [("customer_stats", 2), ("store_stats", 1)]


def test_unknown_names_suggest_the_closest(catalog):
    with pytest.raises(UsageError) as raised:
        catalog.resolve(["customer_stat:orders_30d"])
    assert str(raised.value) == "unknown feature view 'customer_stat'; did you mean 'customer_stats'?"
    assert raised.value.exit_code == EXIT_USAGE
    with pytest.raises(UsageError) as raised:
        catalog.resolve(["customer_stats:orders_3d"])
    assert str(raised.value) == "view 'customer_stats' has no feature 'orders_3d'; did you mean 'orders_30d'?"
    with pytest.raises(UsageError) as raised:
        catalog.resolve(["chrun"])
    assert str(raised.value) == "'chrun' is not a feature service and not view:feature; did you mean 'churn'?"


def test_search_matches_views_and_features(catalog):
    hits = catalog.search("SPEND")
    assert [(v.name, [f.name for f in fs]) for v, fs in hits] == [("customer_stats", ["spend_30d"])]
    assert [v.name for v, _ in catalog.search("retail")] == ["store_stats"]
    assert catalog.search("nothing-like-this") == []


@pytest.mark.parametrize(
    "text,seconds", [("90m", 5400), ("3h", 10800), ("30d", 2592000), ("1d12h", 129600), ("2w", 1209600), ("45s", 45)]
)
def test_ttl_round_trip(text, seconds):
    assert parse_ttl(text).total_seconds() == seconds
    assert parse_ttl(format_ttl(parse_ttl(text))) == parse_ttl(text)


@pytest.mark.parametrize("text", ["", "30", "d", "3 h", "-1d", "1.5h", "0s", "1y", "1M", "1D", "2W", "1d1d", "12h1d", "1m1h", "1dd", "\u0663d", "1\u0662h", "\uff13d"])
def test_ttl_rejects(text):
    with pytest.raises(ValueError):
        parse_ttl(text)


@pytest.mark.parametrize(
    "text,read",
    [("3D", "3d"), ("1M", "1m"), ("2W", "14d"), ("1d1d", "2d"), ("12h1d", "1d12h"), ("1m1h", "1h1m"), (" 1D12H ", "1d12h")],
)
def test_older_spellings_read_as_an_older_fs_read_them(text, read):
    with older_spellings():
        assert format_ttl(parse_ttl(text)) == read
    with pytest.raises(ValueError):
        parse_ttl(text)  # strict again outside


@pytest.mark.parametrize("text", ["", "30", "d", "3 h", "-1d", "1.5h", "1y", "1dd", "1 day"])
def test_older_spellings_still_refuse_what_no_fs_read(text):
    with older_spellings(), pytest.raises(ValueError):
        parse_ttl(text)


@pytest.mark.parametrize("text", ["0s", "0D", "36500D1s"])
def test_older_spellings_keep_the_bounds(text):
    with older_spellings(), pytest.raises(TtlOutOfRange):
        parse_ttl(text)


@pytest.mark.parametrize("text", ["0s", "0d0h", "36500d1s", "5215w", "16000000w", "99999999999d", "9" * 40 + "s"])
def test_ttl_out_of_range_is_refused_before_timedelta_overflows(text):
    with pytest.raises(TtlOutOfRange):
        parse_ttl(text)


@pytest.mark.parametrize("text", ["36500d", "5214w2d", "36499d23h59m60s", "1s"])
def test_ttl_up_to_the_maximum_is_accepted(text):
    assert timedelta(0) < parse_ttl(text) <= MAX_TTL
