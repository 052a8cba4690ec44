"""Small manifest documents for unit tests: just the fields the catalog reads."""

from __future__ import annotations

import copy


def model_node(
    name: str,
    meta: dict | None,
    columns: list[str],
    yaml_path: str | None = None,
    in_config: bool = True,
    types: dict[str, str] | None = None,
) -> dict:
    types = types or {}
    node = {
        "unique_id": f"model.demo.{name}",
        "resource_type": "model",
        "name": name,
        "alias": name,
        "database": "warehouse",
        "schema": "main",
        "original_file_path": f"models/{name}.sql",
        "patch_path": f"demo://{yaml_path or f'models/{name}.yml'}",
        "description": f"The {name} view.",
        "tags": [],
        "config": {"enabled": True, "meta": {}},
        "meta": {},
        "depends_on": {"nodes": ["source.demo.raw.events"]},
        "columns": {
            c: {"name": c, "description": f"{c} column", "data_type": types.get(c), "tags": []}
            for c in columns
        },
    }
    if meta is not None:
        (node["config"]["meta"] if in_config else node["meta"])["feature_store"] = copy.deepcopy(meta)
    return node


def manifest(*nodes: dict, exposures: list[dict] | None = None, adapter: str = "duckdb") -> dict:
    return {
        "metadata": {"adapter_type": adapter, "dbt_version": "1.11.0"},
        "nodes": {n["unique_id"]: n for n in nodes},
        "sources": {},
        "exposures": {f"exposure.demo.{e['name']}": e for e in exposures or []},
        "parent_map": {
            **{n["unique_id"]: n["depends_on"]["nodes"] for n in nodes},
            "source.demo.raw.events": [],
        },
    }


def exposure(name: str, features: list[str], depends_on: list[str]) -> dict:
    return {
        "name": name,
        "resource_type": "exposure",
        "original_file_path": "models/ml.yml",
        "description": f"The {name} model.",
        "owner": {"name": "ml-team"},
        "depends_on": {"nodes": [f"model.demo.{d}" for d in depends_on]},
        "config": {"meta": {"feature_store": {"features": features}}},
        "meta": {},
    }


def on_demand_exposure(name: str, request: dict, features: list[dict], depends_on: list[str]) -> dict:
    """An exposure declaring an on-demand group: request fields and features (name, sql)."""
    document = exposure(name, [], depends_on)
    document["config"]["meta"]["feature_store"] = {"on_demand": {"request": request, "features": features}}
    return document


CUSTOMER_META = {
    "entity": "customer",
    "join_keys": ["customer_id"],
    "timestamp": "event_timestamp",
    "ttl": "30d",
    "owner": "growth",
}
CUSTOMER_COLUMNS = ["customer_id", "event_timestamp", "orders_30d", "spend_30d"]
