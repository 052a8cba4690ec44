"""The dbt package fs ships: one version with the Python package, macros that work from inside
a package, the advice fs init gives per adapter, and what fs new view refuses."""

from __future__ import annotations

import re
import tomllib
from pathlib import Path

import pytest
import yaml

from featurestore import __version__
from featurestore.engines.registry import install_advice
from featurestore.errors import UsageError
from featurestore.project.package import shipped_package
from featurestore.project.scaffold import model_node, scaffold_text, yaml_path

REPO = Path(__file__).resolve().parents[2]
NODE = {"name": "customer_daily", "original_file_path": "models/customer_daily.sql"}
COLUMNS = [("customer_id", "VARCHAR"), ("as_of", "TIMESTAMP"), ("day", "DATE"), ("orders_1d", "BIGINT")]


def test_the_package_and_the_distribution_have_one_version():
    package = yaml.safe_load((shipped_package() / "dbt_project.yml").read_text())
    assert (package["name"], package["version"]) == ("featurestore", __version__)
    project = tomllib.loads((REPO / "pyproject.toml").read_text())
    assert "version" not in project["project"] and project["project"]["dynamic"] == ["version"]
    assert project["tool"]["setuptools"]["dynamic"]["version"] == {"attr": "featurestore.version.__version__"}


def test_the_package_dispatches_in_its_own_namespace():
    # From a package, adapter.dispatch('m') searches the root project, not the package.
    for path in (shipped_package() / "macros").glob("*.sql"):
        for call in re.findall(r"adapter\.dispatch\(([^)]*)\)", path.read_text()):
            assert re.fullmatch(r"'\w+', 'featurestore'", call), (path.name, call)


@pytest.mark.parametrize(
    "adapter, advice",
    [
        ("duckdb", "adapter 'duckdb': fs runs on duckdb with what it installs by default"),
        ("postgres", "adapter 'postgres': install fs with its 'postgres' extra: pip install '/path/to/featurestore[postgres]' (fs installs from a clone: docs/your-project.md)"),
        (
            "snowflake",
            "adapter 'snowflake': fs prints training-set SQL for snowflake (fs training-set --sql --dialect snowflake) "
            "but does not run queries on it: training sets, sync and check need a target on DuckDB, PostgreSQL or Spark",
        ),
    ],
)
def test_fs_init_names_what_the_adapter_needs(adapter, advice):
    assert install_advice(adapter) == advice


def test_an_unknown_adapter_is_named_with_the_supported_ones():
    assert install_advice("sqlserver").startswith("adapter 'sqlserver': fs does not support it (supported: bigquery, databricks, duckdb, ")


def test_the_scaffold_declares_the_uniqueness_test_and_the_warehouses_types():
    text, view = scaffold_text(NODE, COLUMNS, "customer", ["customer_id"], "as_of")
    document = yaml.safe_load(text)["models"][0]
    assert document["config"]["meta"]["feature_store"] == {"entity": "customer", "join_keys": ["customer_id"], "timestamp": "as_of"}
    assert document["data_tests"] == [
        {"featurestore.feature_unique_entity_timestamp": {"arguments": {"join_keys": ["customer_id"], "timestamp": "as_of"}}}
    ]
    assert [(c["name"], c["data_type"]) for c in document["columns"]] == [(n, t.lower()) for n, t in COLUMNS]
    assert view.features == ("day", "orders_1d")


@pytest.mark.parametrize(
    "keys, timestamp, message",
    [
        (["id"], "as_of", "join key 'id' is not a column of model 'customer_daily'; columns: customer_id, as_of, day, orders_1d (pass --join-key COLUMN, once per key)"),
        ([], "as_of", "join key 'customer_id' is not a column"),
        (["customer_id"], "orders_1d", "--timestamp 'orders_1d' of model 'customer_daily' is BIGINT, not a date or timestamp; date and time columns: as_of, day"),
        (["customer_id"], None, "say which column of model 'customer_daily' is the timestamp: --timestamp COLUMN (date and time columns: as_of, day)"),
    ],
    ids=["missing-key", "default-key-missing", "not-a-time", "two-time-columns"],
)
def test_the_scaffold_refuses_what_cannot_be_a_view(keys, timestamp, message):
    entity = "customer" if keys else "client"
    with pytest.raises(UsageError) as raised:
        scaffold_text(NODE, COLUMNS, entity, keys, timestamp)
    expected = message.replace("customer_id'", "client_id'") if not keys else message
    assert str(raised.value).startswith(expected)


def test_the_scaffold_never_writes_over_an_entry_or_a_file(tmp_path):
    with pytest.raises(UsageError, match=r"^model 'customer_daily' already has a YAML entry in models/schema.yml: add config.meta"):
        yaml_path({**NODE, "patch_path": "shop://models/schema.yml"}, tmp_path, None)
    (tmp_path / "models").mkdir()
    (tmp_path / "models" / "customer_daily.yml").write_text("")
    with pytest.raises(UsageError, match=r"customer_daily.yml exists; fs new view writes a new file only: choose another with --out$"):
        yaml_path(NODE, tmp_path, None)
    assert yaml_path(NODE, tmp_path, Path("models/other.yml")) == tmp_path / "models" / "other.yml"


def test_the_scaffold_finds_the_projects_model_and_refuses_an_ephemeral_one():
    nodes = {
        "model.pkg.orders": {"resource_type": "model", "name": "orders", "package_name": "pkg"},
        "model.shop.orders": {"resource_type": "model", "name": "orders", "package_name": "shop"},
        "model.shop.tmp": {"resource_type": "model", "name": "tmp", "package_name": "shop", "config": {"materialized": "ephemeral"}},
    }
    assert model_node({"nodes": nodes}, "orders", "shop") is nodes["model.shop.orders"]
    with pytest.raises(UsageError, match=r"^no model named 'order' in the project; did you mean 'orders'"):
        model_node({"nodes": nodes}, "order", "shop")
    with pytest.raises(UsageError, match=r"^model 'tmp' is ephemeral: dbt builds no table or view for it, so it cannot be a feature view; "):
        model_node({"nodes": nodes}, "tmp", "shop")


def test_the_demos_now_for_dbt_is_its_clock_now():
    """featurestore.latest learns the project's now from the var feature_store_now (dbt
    cannot read feature_store.yml): in the demo it is clock.now, so the analysis answers
    what fs sync serves."""
    settings = yaml.safe_load((REPO / "feature_store.yml").read_text())
    project = yaml.safe_load((REPO / "dbt_project.yml").read_text())
    assert project["vars"]["feature_store_now"] == settings["clock"]["now"]
