"""Reading the deployed version's manifest, given as dbt's `--state` is: a folder holding
`manifest.json`, or the file itself.

Everything wrong with the path is one `UsageError` naming it and saying what is valid: a
manifest that cannot be read the way this one is would make every comparison a guess.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

from featurestore.errors import UsageError

MANIFEST_NAME = "manifest.json"

READABLE_SCHEMAS = range(9, 13)
"""Manifest schema versions whose fields the catalog reads the same way: v9 (dbt 1.5) to v12
(dbt 1.8 and later). Older ones keep feature meta and column types elsewhere; a newer one is
from a dbt this fs has not met."""

MAX_MANIFEST_BYTES = 1024**3
"""The largest manifest fs reads (1 GiB): dbt's manifests of projects with thousands of
models are a few hundred MB; past this, `--state` names something else (a device, a dump)."""

_SCHEMA = re.compile(r"/dbt/(?P<kind>[a-z_-]+)/v(?P<version>\d+)\.json$")


def find_manifest(state: Path) -> Path:
    """The manifest file `--state PATH` names: PATH itself, or PATH/manifest.json."""
    if not state.exists():
        raise UsageError(
            f"--state {state}: no such file or folder; give the folder holding the deployed "
            f"version's {MANIFEST_NAME} (as dbt's --state) or the file itself"
        )
    if state.is_dir():
        manifest = state / MANIFEST_NAME
        if not manifest.is_file():
            raise UsageError(
                f"--state {state}: the folder has no {MANIFEST_NAME}; give the folder dbt wrote the "
                f"deployed version's manifest to (its target/), or the file itself"
            )
        return manifest
    return state


def read_deployed_manifest(state: Path) -> tuple[Path, dict]:
    """The deployed manifest's path and contents, checked to be a manifest fs can read."""
    path = find_manifest(state)
    try:
        document = json.loads(_bounded_bytes(path).decode("utf-8"))
    except UnicodeDecodeError as error:
        raise UsageError(f"--state {path}: not a dbt manifest (not text: {error.reason})") from error
    except json.JSONDecodeError as error:
        raise UsageError(f"--state {path}: not a dbt manifest (not JSON: {error.msg} at line {error.lineno})") from error
    except RecursionError as error:
        raise UsageError(
            f"--state {path}: not a dbt manifest (it nests arrays or objects deeper than fs reads)"
        ) from error
    except OSError as error:
        raise UsageError(f"--state {path}: cannot be read ({error.strerror or error})") from error
    metadata = document.get("metadata") if isinstance(document, dict) else None
    schema = metadata.get("dbt_schema_version") if isinstance(metadata, dict) else None
    match = _SCHEMA.search(schema) if isinstance(schema, str) else None
    if match is None or not isinstance(document.get("nodes"), dict):
        raise UsageError(
            f"--state {path}: not a dbt manifest (no metadata.dbt_schema_version and nodes); "
            "give the manifest.json that dbt parse, build or compile wrote for the deployed version"
        )
    if match["kind"] != "manifest":
        raise UsageError(
            f"--state {path}: a dbt {match['kind']} file, not a manifest; give the {MANIFEST_NAME} beside it"
        )
    _check_shape(path, document)
    version = int(match["version"])
    if version not in READABLE_SCHEMAS:
        dbt_version = metadata.get("dbt_version") or "unknown"
        raise UsageError(
            f"--state {path}: manifest schema v{version} (dbt {dbt_version}) is not one fs reads; "
            f"valid: v{READABLE_SCHEMAS.start} to v{READABLE_SCHEMAS.stop - 1} (dbt 1.5 and later): "
            "write it again with that version's dbt parse"
        )
    return path, document


def _bounded_bytes(path: Path) -> bytes:
    """The file's bytes, refusing what is not a regular file (a device such as /dev/zero, a
    pipe: they may never end) and what is past MAX_MANIFEST_BYTES, before reading it."""
    if not path.is_file():
        raise UsageError(
            f"--state {path}: not a regular file; give the folder holding the deployed version's "
            f"{MANIFEST_NAME} (as dbt's --state) or the file itself"
        )
    size = path.stat().st_size
    if size > MAX_MANIFEST_BYTES:
        raise UsageError(f"--state {path}: is {size:,} bytes, over the {MAX_MANIFEST_BYTES:,} a manifest fs reads may have")
    with path.open("rb") as file:
        data = file.read(MAX_MANIFEST_BYTES + 1)  # the file may have grown since
    if len(data) > MAX_MANIFEST_BYTES:
        raise UsageError(f"--state {path}: is over the {MAX_MANIFEST_BYTES:,} bytes a manifest fs reads may have")
    return data


_OBJECT_MAPS = ("nodes", "sources", "exposures", "macros")
"""Top-level maps of a manifest whose every entry is an object (a node, a source, ...)."""


def _check_shape(path: Path, document: dict) -> None:
    """The maps fs walks are maps of objects: the catalog reads them without a check each."""
    for name in (*_OBJECT_MAPS, "parent_map"):
        entries = document.get(name, {})
        if not isinstance(entries, dict):
            raise UsageError(f"--state {path}: not a dbt manifest fs can read: {name} is {_kind(entries)}, not an object")
        if name not in _OBJECT_MAPS:
            continue
        for key, entry in entries.items():
            if not isinstance(entry, dict):
                raise UsageError(
                    f"--state {path}: not a dbt manifest fs can read: {name}[{key!r}] is {_kind(entry)}, not an object"
                )


def _kind(value: object) -> str:
    """A JSON value's kind, as an error names it."""
    if value is None:
        return "null"
    if isinstance(value, str):
        return "text"
    if isinstance(value, (bool, int, float)):
        return "a boolean" if isinstance(value, bool) else "a number"
    return "a list" if isinstance(value, list) else "an object"
