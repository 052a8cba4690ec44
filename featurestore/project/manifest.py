"""Loading dbt's target/manifest.json, refreshing it with `dbt parse` when it is stale.

Stale means missing, older than any file dbt reads to make it (project, models, macros,
profiles), or parsed for another adapter than the target in use.
"""

from __future__ import annotations

import json
from pathlib import Path

import yaml

from featurestore.console import Console
from featurestore.errors import ProjectError
from featurestore.project.profiles import Target
from featurestore.project.dbt_project import Project

_PATH_KEYS = {
    "model-paths": ["models"],
    "macro-paths": ["macros"],
    "seed-paths": ["seeds"],
    "snapshot-paths": ["snapshots"],
    "test-paths": ["tests"],
    "analysis-paths": ["analyses"],
}
_DBT_FILE_SUFFIXES = {".sql", ".yml", ".yaml", ".csv", ".py", ".md"}


def load_manifest(project: Project, target: Target, console: Console) -> dict:
    reason = _outdated_reason(project)
    manifest = None if reason else _read(project.manifest_path)
    if manifest is not None:
        adapter = manifest.get("metadata", {}).get("adapter_type")
        if adapter != target.adapter:
            reason = f"the manifest was parsed for {adapter}, the target is {target.adapter}"
    if reason:
        from featurestore.project.dbt_runner import run_dbt

        console.info(f"{reason}: running dbt parse")
        run_dbt(project, ["parse"], target.name, console)
        manifest = _read(project.manifest_path)
    return manifest


def _read(path: Path) -> dict:
    try:
        return json.loads(path.read_text())
    except (OSError, json.JSONDecodeError) as error:
        raise ProjectError(f"cannot read {path}: {error}") from None


def _outdated_reason(project: Project) -> str | None:
    manifest = project.manifest_path
    if not manifest.is_file():
        return f"{_shown(project, manifest)} is missing"
    built = manifest.stat().st_mtime
    for path in _dbt_input_files(project):
        if path.stat().st_mtime > built:
            return f"{_shown(project, path)} changed since the last parse"
    return None


def _shown(project: Project, path: Path) -> str:
    return str(path.relative_to(project.root)) if path.is_relative_to(project.root) else str(path)


def _dbt_input_files(project: Project) -> list[Path]:
    config = yaml.safe_load((project.root / "dbt_project.yml").read_text()) or {}
    files = [project.root / "dbt_project.yml", project.profiles_dir / "profiles.yml"]
    for key, default in _PATH_KEYS.items():
        for folder in config.get(key, default):
            base = project.root / folder
            if base.is_dir():
                files.extend(
                    p for p in base.rglob("*") if p.is_file() and p.suffix in _DBT_FILE_SUFFIXES
                )
    return files
