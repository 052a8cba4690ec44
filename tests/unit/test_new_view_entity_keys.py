"""fs new view refuses, before it reads the warehouse or writes a file, join keys that the
catalog's other views of the same entity contradict: the file it would write would only make
fs catalog fail (exit 3) once copied beside the model."""

from __future__ import annotations

import pytest

from featurestore.errors import EXIT_USAGE, EXIT_WAREHOUSE
from tests.conftest import write_manifest_project
from tests.manifests import CUSTOMER_COLUMNS, CUSTOMER_META, manifest, model_node

SAME_KEYS = "every view of one entity must use the same join_keys, in the same order"


def project_with_orders(tmp_path, *views: dict):
    orders = model_node("stg_orders", None, [])
    del orders["patch_path"]  # no YAML entry yet: what fs new view is for
    return write_manifest_project(tmp_path / "shop", manifest(*views, orders))


@pytest.mark.parametrize(
    "options, keys, hint",
    [
        (["--join-key", "order_id"], ["order_id"], "--join-key customer_id"),
        ([], ["customer_id"], "--join-key customer_id --join-key region"),  # the default key disagrees too
    ],
    ids=["other key", "default key"],
)
def test_join_keys_other_views_of_the_entity_contradict_are_refused_up_front(tmp_path, cli, options, keys, hint):
    view = model_node("customer_stats", CUSTOMER_META, CUSTOMER_COLUMNS)
    if not options:
        view = model_node("customer_stats", {**CUSTOMER_META, "join_keys": ["customer_id", "region"]}, [*CUSTOMER_COLUMNS, "region"])
    project = project_with_orders(tmp_path, view)
    out_file = tmp_path / "x.yml"
    code, out, err = cli(
        "new", "view", "stg_orders", "--entity", "customer", *options, "--timestamp", "ordered_at",
        "--out", str(out_file), "--project-dir", str(project),
    )
    assert (code, out) == (EXIT_USAGE, "")
    assert err == (
        f"error: model 'stg_orders': entity 'customer' has join_keys {keys} here but {list(view['config']['meta']['feature_store']['join_keys'])} "
        f"in view 'customer_stats' (models/customer_stats.yml) ({SAME_KEYS}: pass {hint})\n"
    )
    assert not out_file.exists()


def test_a_catalog_that_cannot_be_read_does_not_stop_fs_new_view(tmp_path, cli):
    # The broken view is fs catalog's to report; fs new view goes on to the warehouse.
    broken = model_node("customer_stats", {**CUSTOMER_META, "ttl": "1M"}, CUSTOMER_COLUMNS)
    project = project_with_orders(tmp_path, broken)
    code, _, err = cli(
        "new", "view", "stg_orders", "--entity", "customer", "--join-key", "order_id",
        "--out", str(tmp_path / "x.yml"), "--project-dir", str(project),
    )
    assert code == EXIT_WAREHOUSE  # the DuckDB file is not built: the warehouse was reached
    assert "customer_stats" not in err
