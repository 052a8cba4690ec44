"""fs new view refuses, before it writes a file, join keys that the catalog's other views of
the same entity contradict: the file it would write would only make fs catalog fail (exit 3)
once copied beside the model. What it says to do depends on the model's columns (read from
the warehouse, as for the rest of the file): `--join-key X` only where the model has X, else
to rename the model's key column (or use another entity), never advice that is refused next."""

from __future__ import annotations

import duckdb
import pytest

from featurestore.errors import EXIT_USAGE, EXIT_WAREHOUSE
from tests.conftest import write_manifest_project
from tests.manifests import CUSTOMER_COLUMNS, CUSTOMER_META, manifest, model_node

SAME_KEYS = "every view of one entity must use the same join_keys, in the same order"
IN_VIEW = "in view 'customer_stats' (models/customer_stats.yml)"


def project_with(tmp_path, model: str, columns: str | None, *views: dict):
    """A project whose `model` has no YAML entry yet (what fs new view is for), built in the
    warehouse with `columns` (SQL column definitions) unless None."""
    node = model_node(model, None, [])
    node["database"] = "demo"  # the DuckDB file's own name (profiles: demo.duckdb)
    del node["patch_path"]
    project = write_manifest_project(tmp_path / "shop", manifest(*views, node))
    if columns is not None:
        with duckdb.connect(str(project / "demo.duckdb")) as connection:
            connection.execute(f"create table main.{model} ({columns})")
    return project


def new_view(cli, tmp_path, project, model: str, *options: str):
    out_file = tmp_path / "x.yml"
    code, out, err = cli("new", "view", model, "--entity", "customer", *options, "--out", str(out_file), "--project-dir", str(project))
    return code, out, err, out_file.exists()


ORDERS = "order_id integer, customer_id integer, region varchar, ordered_at timestamp, amount double"


@pytest.mark.parametrize(
    "options, keys, other, hint",
    [
        (["--join-key", "order_id"], ["order_id"], ["customer_id"], "pass --join-key customer_id"),
        # the default key disagrees too
        ([], ["customer_id"], ["customer_id", "region"], "pass --join-key customer_id --join-key region"),
    ],
    ids=["other key", "default key"],
)
def test_join_keys_other_views_of_the_entity_contradict_are_refused_with_the_keys_to_pass(tmp_path, cli, options, keys, other, hint):
    view = model_node("customer_stats", {**CUSTOMER_META, "join_keys": other}, [*CUSTOMER_COLUMNS, "region"])
    project = project_with(tmp_path, "stg_orders", ORDERS, view)
    code, out, err, written = new_view(cli, tmp_path, project, "stg_orders", *options, "--timestamp", "ordered_at")
    assert (code, out, written) == (EXIT_USAGE, "", False)
    assert err == f"error: model 'stg_orders': entity 'customer' has join_keys {keys} here but {other} {IN_VIEW} ({SAME_KEYS}: {hint})\n"


RENAME = "the model has no column customer_id: rename its key column to customer_id in the model, or use another --entity"


def test_a_model_without_the_entitys_key_is_told_to_rename_its_column_not_to_pass_it(tmp_path, cli):
    view = model_node("customer_stats", CUSTOMER_META, CUSTOMER_COLUMNS)
    project = project_with(tmp_path, "nv", "cust integer, ts timestamp, f double", view)
    code, out, err, written = new_view(cli, tmp_path, project, "nv", "--join-key", "cust")
    assert (code, out, written) == (EXIT_USAGE, "", False)
    assert err == f"error: model 'nv': entity 'customer' has join_keys ['cust'] here but ['customer_id'] {IN_VIEW} ({SAME_KEYS}: {RENAME})\n"


def test_the_default_key_the_model_lacks_is_told_the_same(tmp_path, cli):
    # `--join-key cust` would be refused as above: the entity's views use customer_id.
    view = model_node("customer_stats", CUSTOMER_META, CUSTOMER_COLUMNS)
    project = project_with(tmp_path, "nv", "cust integer, ts timestamp, f double", view)
    code, out, err, written = new_view(cli, tmp_path, project, "nv")
    assert (code, out, written) == (EXIT_USAGE, "", False)
    assert err == (
        f"error: model 'nv': entity 'customer' has join_keys ['customer_id'] {IN_VIEW}, and the model has no column "
        "customer_id (rename its key column to customer_id in the model, or use another --entity)\n"
    )


def test_a_new_entitys_missing_key_still_says_which_columns_there_are(tmp_path, cli):
    project = project_with(tmp_path, "nv", "cust integer, ts timestamp, f double")
    code, out, err, written = new_view(cli, tmp_path, project, "nv")
    assert (code, out, written) == (EXIT_USAGE, "", False)
    assert err == "error: join key 'customer_id' is not a column of model 'nv'; columns: cust, ts, f (pass --join-key COLUMN, once per key)\n"


def test_a_catalog_that_cannot_be_read_does_not_stop_fs_new_view(tmp_path, cli):
    # The broken view is fs catalog's to report; fs new view goes on to the warehouse.
    broken = model_node("customer_stats", {**CUSTOMER_META, "ttl": "1M"}, CUSTOMER_COLUMNS)
    project = project_with(tmp_path, "stg_orders", None, broken)
    code, _, err, _ = new_view(cli, tmp_path, project, "stg_orders", "--join-key", "order_id")
    assert code == EXIT_WAREHOUSE  # the DuckDB file is not built: the warehouse was reached
    assert "customer_stats" not in err
