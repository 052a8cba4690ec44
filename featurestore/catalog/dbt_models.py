"""What fs knows of every dbt model besides feature views: its SQL file, the descriptions of
its columns, the columns a dbt test keeps unique, and, for a training set fs generated as a
model (`fs training-set --as-model`), the fingerprint it was generated from.

A generated model's fingerprint is its `config(meta={'fs_training_set': {...}})`, so it reaches
the manifest like any meta; `fs check` compares it with the catalog now
(catalog/fingerprint.py)."""

from __future__ import annotations

from dataclasses import dataclass, field

GENERATED_META_KEY = "fs_training_set"
"""Key, in a generated training-set model's meta, of the fingerprint it was generated from."""


@dataclass(frozen=True)
class DbtModel:
    name: str
    sql_path: str
    """The model's SQL file, relative to the project (`original_file_path`)."""
    description: str = ""
    column_descriptions: dict[str, str] = field(default_factory=dict, compare=False)
    unique_columns: tuple[str, ...] = ()
    """Single columns a dbt test keeps unique over all the model's rows."""
    generated: dict | None = field(default=None, compare=False)
    """The fingerprint of a training set fs generated as this model; None for any other."""


def dbt_models(nodes: dict, unique_column_sets: dict[str, set[frozenset[str]]]) -> dict[str, DbtModel]:
    """Every model of the manifest's `nodes` by name; `unique_column_sets`: model id -> the
    column sets a dbt test keeps unique (from_manifest._uniqueness_tests)."""
    models: dict[str, DbtModel] = {}
    for unique_id, node in sorted(nodes.items()):
        if node.get("resource_type") != "model":
            continue
        columns = node.get("columns") or {}
        meta = (node.get("config") or {}).get("meta") or node.get("meta") or {}
        generated = meta.get(GENERATED_META_KEY)
        models[node["name"]] = DbtModel(
            name=node["name"],
            sql_path=node.get("original_file_path", ""),
            description=(node.get("description") or "").strip(),
            column_descriptions={n: (c.get("description") or "").strip() for n, c in columns.items()},
            unique_columns=tuple(sorted(next(iter(s)) for s in unique_column_sets.get(unique_id, ()) if len(s) == 1)),
            generated=generated if isinstance(generated, dict) else None,
        )
    return models
