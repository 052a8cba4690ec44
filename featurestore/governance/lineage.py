"""Which inputs of a model changed between two manifests: its own SQL, the models, seeds,
snapshots and sources it is built from (through any number of models), and the macros of
the project and its packages that any of those models call.

A changed input may change a view's values but not its shape. dbt's own checksums (of the
files) say what changed; target-specific fields (the database, a model's schema) are left
out, so a deployed manifest made for production compares with one made for development.
"""

from __future__ import annotations

from dataclasses import dataclass

from featurestore.catalog.versions import versioned_name

BUILT_NODES = {"model", "seed", "snapshot"}


@dataclass(frozen=True)
class ChangedInput:
    """One input of a view that differs from the deployed version."""

    kind: str
    """`sql` (the view's own model), `model`, `seed`, `snapshot`, `source` or `macro`."""
    name: str
    """The model's file, `source_name.table` or the macro's name."""
    new: bool = False
    """The deployed version had no such input."""

    def __str__(self) -> str:
        what = self.name if self.kind == "sql" else f"{self.kind} {self.name}"
        return f"{what} (new)" if self.new else what


class InputComparison:
    """The inputs of each model of the current manifest that differ from the deployed one."""

    def __init__(self, current: dict, deployed: dict):
        self.current = current
        self.deployed = deployed
        self._model_ids = {
            versioned_name(node["name"], node.get("version")): unique_id
            for unique_id, node in current.get("nodes", {}).items()
            if node.get("resource_type") == "model" and (node.get("config") or {}).get("enabled", True)
        }

    def changed(self, model: str) -> list[ChangedInput]:
        """The changed inputs of the model called `model` (feature views are named by model):
        its own SQL first, then its upstream nodes and macros in name order."""
        unique_id = self._model_ids[model]
        current, deployed = self.current, self.deployed
        changed: list[ChangedInput] = []
        node = current["nodes"][unique_id]
        before = deployed.get("nodes", {}).get(unique_id)
        if before is None or _node_fingerprint(before) != _node_fingerprint(node):
            changed.append(ChangedInput("sql", node.get("original_file_path") or node["name"], new=before is None))
        upstream = sorted(_ancestors(unique_id, current.get("parent_map", {})))
        for ancestor in upstream:
            now, then = _resource(current, ancestor), _resource(deployed, ancestor)
            if now is None:
                continue  # a test or a node dbt lists but does not describe: nothing to compare
            if then is None or _fingerprint(then) != _fingerprint(now):
                changed.append(ChangedInput(now["resource_type"], _display_name(now), new=then is None))
        models = [unique_id, *(a for a in upstream if a.startswith("model."))]
        for macro in sorted(_macros_called(models, current)):
            now, then = current["macros"][macro], deployed.get("macros", {}).get(macro)
            if then is None or then.get("macro_sql") != now.get("macro_sql"):
                changed.append(ChangedInput("macro", now.get("name", macro), new=then is None))
        return changed


def _ancestors(unique_id: str, parent_map: dict) -> set[str]:
    found: set[str] = set()
    stack = [unique_id]
    while stack:
        for parent in parent_map.get(stack.pop(), []):
            if parent not in found:
                found.add(parent)
                stack.append(parent)
    return found


def _resource(manifest: dict, unique_id: str) -> dict | None:
    if unique_id.startswith("source."):
        return manifest.get("sources", {}).get(unique_id)
    node = manifest.get("nodes", {}).get(unique_id)
    return node if node and node.get("resource_type") in BUILT_NODES else None


def _fingerprint(resource: dict) -> object:
    if resource.get("resource_type") == "source":
        # Which table it reads. The database is the connection's; the schema and identifier
        # say which table, and are the same for every target unless a project says otherwise.
        return (resource.get("schema"), resource.get("identifier") or resource.get("name"))
    return _node_fingerprint(resource)


def _node_fingerprint(node: dict) -> object:
    return (node.get("checksum") or {}).get("checksum")


def _display_name(resource: dict) -> str:
    if resource.get("resource_type") == "source":
        return f"{resource.get('source_name')}.{resource.get('name')}"
    return versioned_name(resource.get("name", "?"), resource.get("version"))


def _macros_called(models: list[str], manifest: dict) -> set[str]:
    """Every macro the models call, directly or through other macros, except dbt's own and
    its adapters' (those change with the dbt version, which is not a change of the project)."""
    macros = manifest.get("macros", {})
    builtin = {"dbt", f"dbt_{(manifest.get('metadata') or {}).get('adapter_type', '')}"}
    found: set[str] = set()
    stack = [m for model in models for m in ((manifest["nodes"].get(model) or {}).get("depends_on") or {}).get("macros", [])]
    while stack:
        macro = stack.pop()
        if macro in found or macro not in macros or macros[macro].get("package_name") in builtin:
            continue
        found.add(macro)
        stack.extend((macros[macro].get("depends_on") or {}).get("macros", []))
    return found
