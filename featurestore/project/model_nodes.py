"""What dbt's manifest says of the models behind feature views, beyond the catalog: each
node's unique_id, model version and checksum (a training set's record keeps them), and the
name openlineage-dbt gives its relation (lineage events name the same). A view is found by
its relation, so two versions of one model are two nodes, and two datasets: dbt-ol names a
model's relation by its alias (plane_daily for v1, plane_daily_v2 for v2), not its name, which
the versions share."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Sequence

NODE_KINDS = ("model", "snapshot")


@dataclass(frozen=True)
class ModelNode:
    """One view's model as the manifest has it."""

    unique_id: str
    version: str | int | None
    """The node's `version` (dbt model versions); None for an unversioned model."""
    checksum: str
    """The manifest's checksum of the model's file, `<name>:<value>` (sha256 usually)."""
    database: str | None
    schema: str
    alias: str
    """The relation's identifier (the node's alias, else its name): openlineage-dbt's
    artifact processor names a model's relation by it (a source's by its name)."""

    @property
    def lineage_name(self) -> str:
        """`database.schema.alias`, as openlineage-dbt names the model's relation."""
        return ".".join(part for part in (self.database, self.schema, self.alias) if part)


def model_nodes(manifest: dict, views: Sequence[Any]) -> dict[str, ModelNode]:
    """View name -> its model node (views whose relation no node builds are left out).
    `views` are the catalog's FeatureViews (their name and relation are read; the catalog is
    a room of this layer that project/ does not import)."""
    by_relation = {}
    for unique_id, node in manifest.get("nodes", {}).items():
        if node.get("resource_type") in NODE_KINDS:
            relation = (node.get("database"), node.get("schema"), node.get("alias") or node.get("name"))
            by_relation[relation] = (unique_id, node)
    found = {}
    for view in views:
        hit = by_relation.get((view.relation.database, view.relation.schema, view.relation.identifier))
        if hit is None:
            continue
        unique_id, node = hit
        checksum = node.get("checksum") or {}
        found[view.name] = ModelNode(
            unique_id=unique_id,
            version=node.get("version"),
            checksum=f"{checksum.get('name', 'none')}:{checksum.get('checksum', '')}",
            database=node.get("database"),
            schema=node["schema"],
            alias=node.get("alias") or node["name"],
        )
    return found


def file_sha256(path: Path) -> str:
    """The sha256 of a file's bytes, read in blocks (a spine file of any size)."""
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()
