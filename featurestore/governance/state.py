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
        document = json.loads(path.read_text())
    except UnicodeDecodeError as error:
        raise UsageError(f"--state {path}: not a dbt manifest (not text: {error.reason})") from error
    except json.JSONDecodeError as error:
        raise UsageError(f"--state {path}: not a dbt manifest (not JSON: {error.msg} at line {error.lineno})") from error
    except OSError as error:
        raise UsageError(f"--state {path}: cannot be read ({error.strerror or error})") from error
    schema = (document.get("metadata") or {}).get("dbt_schema_version") if isinstance(document, dict) else None
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
    version = int(match["version"])
    if version not in READABLE_SCHEMAS:
        dbt_version = (document.get("metadata") or {}).get("dbt_version") or "unknown"
        raise UsageError(
            f"--state {path}: manifest schema v{version} (dbt {dbt_version}) is not one fs reads; "
            f"valid: v{READABLE_SCHEMAS.start} to v{READABLE_SCHEMAS.stop - 1} (dbt 1.5 and later): "
            "write it again with that version's dbt parse"
        )
    return path, document
