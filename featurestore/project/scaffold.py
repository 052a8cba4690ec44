"""`fs new view`: a feature view's YAML for a model that has none yet, written from the
model's columns and types as the warehouse holds them, with the uniqueness test, so a new view
takes the fast path of the training-set join from the start (docs/your-project.md).

This module decides and writes the text; the columns come from the warehouse
(FeatureStore.new_view reads them)."""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Sequence

from featurestore.errors import ProjectError, UsageError, did_you_mean

TIME_TYPES = re.compile(r"^(timestamp|datetime|date)\b", re.IGNORECASE)
"""Types a feature timestamp may have, as information_schema spells them."""


@dataclass(frozen=True)
class ScaffoldedView:
    path: Path
    """The YAML file written."""
    model: str
    join_keys: tuple[str, ...]
    timestamp: str
    features: tuple[str, ...]

    def line(self, root: Path) -> str:
        shown = self.path.relative_to(root) if self.path.is_relative_to(root) else self.path
        return (
            f"wrote {shown}: feature view {self.model}, keys ({', '.join(self.join_keys)}), timestamp {self.timestamp}, "
            f"{len(self.features)} feature{'s' if len(self.features) != 1 else ''}, with the uniqueness test; "
            f"describe it there, then: dbt build --select {self.model}"
        )


def model_node(manifest: dict, model: str, project_name: str) -> dict:
    """The project's model named `model`; a UsageError naming the close names otherwise."""
    models = [n for n in manifest.get("nodes", {}).values() if n.get("resource_type") == "model"]
    found = [n for n in models if n.get("name") == model]
    own = [n for n in found if n.get("package_name") == project_name] or found
    if not own:
        raise UsageError(f"no model named '{model}' in the project; {did_you_mean(model, [n['name'] for n in models])}")
    if (own[0].get("config") or {}).get("materialized") == "ephemeral":
        raise UsageError(
            f"model '{model}' is ephemeral: dbt builds no table or view for it, so it cannot be a feature view; "
            "materialize it as a table, view or incremental model"
        )
    return own[0]


def yaml_path(node: dict, root: Path, out: Path | None) -> Path:
    """Where the view's YAML goes: `out`, else beside the model's SQL, `<model>.yml`. Refuses a
    model that has a YAML entry already, and a file that exists."""
    name = node["name"]
    if node.get("patch_path"):
        existing = node["patch_path"].split("://", 1)[-1]
        raise UsageError(
            f"model '{name}' already has a YAML entry in {existing}: add config.meta.feature_store there "
            "(docs/configuration.md) rather than a second entry"
        )
    path = Path(out) if out else (root / node["original_file_path"]).with_suffix(".yml")
    path = path if path.is_absolute() else root / path
    if path.exists():
        raise UsageError(f"{path} exists; fs new view writes a new file only: choose another with --out")
    return path


def default_join_keys(entity: str, join_keys: Sequence[str]) -> tuple[str, ...]:
    """The keys given with --join-key, else `<entity>_id`, as the view's meta defaults them."""
    return tuple(join_keys) or (f"{entity}_id",)


def scaffold_text(
    node: dict,
    columns: Sequence[tuple[str, str]],
    entity: str,
    join_keys: Sequence[str],
    timestamp: str | None,
) -> tuple[str, ScaffoldedView]:
    """The YAML text of the view and what it declares. `columns`: (name, type) in the
    relation's order; `timestamp` None picks the one date/time column."""
    name = node["name"]
    types = {column: kind for column, kind in columns}
    keys = default_join_keys(entity, join_keys)
    for key in keys:
        if key not in types:
            raise UsageError(
                f"join key '{key}' is not a column of model '{name}'; columns: {', '.join(types)} "
                "(pass --join-key COLUMN, once per key)"
            )
    timestamp = timestamp or _only_time_column(name, columns, keys)
    if timestamp not in types:
        raise UsageError(f"--timestamp '{timestamp}' is not a column of model '{name}'; {did_you_mean(timestamp, types)}")
    if not TIME_TYPES.match(types[timestamp]):
        raise UsageError(
            f"--timestamp '{timestamp}' of model '{name}' is {types[timestamp]}, not a date or timestamp; "
            f"date and time columns: {', '.join(_time_columns(columns)) or 'none'}"
        )
    features = tuple(c for c, _ in columns if c not in keys and c != timestamp)
    if not features:
        raise UsageError(f"model '{name}' has no column besides its keys and timestamp: a feature view needs a feature")
    lines = [
        f"# Written by fs new view from {name}'s columns as the warehouse holds them. Describe the",
        "# model and each column: fs catalog and fs docs show the descriptions (docs/configuration.md).",
        "version: 2",
        "models:",
        f"  - name: {name}",
        "    description: \"\"",
        "    config:",
        "      meta:",
        "        feature_store:",
        f"          entity: {_scalar(entity)}",
        f"          join_keys: [{', '.join(_scalar(k) for k in keys)}]",
        f"          timestamp: {_scalar(timestamp)}      # when each row's values became true",
        "          # ttl: 7d                # how long a value stays valid (s, m, h, d, w); unset: forever",
        "    data_tests:",
        "      # One row per key and timestamp: fs relies on it to join without breaking ties.",
        "      - featurestore.feature_unique_entity_timestamp:",
        f"          arguments: {{join_keys: [{', '.join(_scalar(k) for k in keys)}], timestamp: {_scalar(timestamp)}}}",
        "    columns:",
    ]
    for column, kind in columns:
        lines += [f"      - name: {_scalar(column)}", "        description: \"\"", f"        data_type: {_scalar(kind.lower())}"]
        if column in keys:
            lines.append("        data_tests: [not_null]")
        elif column == timestamp:
            lines.append("        data_tests: [not_null, featurestore.feature_timestamp_not_in_future]")
    return "\n".join(lines) + "\n", ScaffoldedView(Path(), name, keys, timestamp, features)


def write_new(path: Path, text: str) -> None:
    """Write `text` to `path`, which must not exist (checked again: another process may have
    written it since)."""
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        with path.open("x") as file:
            file.write(text)
    except FileExistsError:
        raise UsageError(f"{path} exists; fs new view writes a new file only: choose another with --out") from None
    except OSError as error:
        raise ProjectError(f"cannot write {path}: {error.strerror or error}") from error


def _time_columns(columns: Sequence[tuple[str, str]]) -> list[str]:
    return [c for c, kind in columns if TIME_TYPES.match(kind)]


def _only_time_column(model: str, columns: Sequence[tuple[str, str]], keys: Sequence[str]) -> str:
    candidates = [c for c in _time_columns(columns) if c not in keys]
    if len(candidates) != 1:
        raise UsageError(
            f"say which column of model '{model}' is the timestamp: --timestamp COLUMN "
            f"(date and time columns: {', '.join(candidates) or 'none'})"
        )
    return candidates[0]


def _scalar(text: str) -> str:
    """`text` as a YAML scalar: plain when that reads back the same, else quoted."""
    return text if re.fullmatch(r"[A-Za-z_][\w ()]*[\w)]|[A-Za-z_]", text) else json.dumps(text)
