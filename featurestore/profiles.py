"""Reading the dbt profile to learn which warehouse a project's target points at.

dbt renders profiles.yml with Jinja (`env_var`, `as_number`, ...); this module renders it the
same way so that `fs` and `dbt` always talk to the same database.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml
from jinja2.nativetypes import NativeEnvironment

from featurestore.errors import ProjectError, did_you_mean
from featurestore.project import Project

# The sqlglot dialect of each dbt adapter type.
DIALECT_OF_ADAPTER = {
    "duckdb": "duckdb",
    "postgres": "postgres",
    "snowflake": "snowflake",
    "bigquery": "bigquery",
    "spark": "spark",
    "databricks": "databricks",
    "trino": "trino",
}


@dataclass(frozen=True)
class Target:
    """One output of a dbt profile: the warehouse that models are built in."""

    name: str
    adapter: str
    schema: str
    credentials: dict[str, Any] = field(repr=False)

    @property
    def dialect(self) -> str:
        return DIALECT_OF_ADAPTER[self.adapter]


class _MissingEnvVar(Exception):
    pass


def _env_var(name: str, default: Any = None) -> Any:
    if name in os.environ:
        return os.environ[name]
    if default is None:
        raise _MissingEnvVar(name)
    return default


def _as_bool(value: Any) -> bool:
    return str(value).strip().lower() in {"1", "true", "yes", "on"}


def _environment() -> NativeEnvironment:
    env = NativeEnvironment()
    env.globals["env_var"] = _env_var
    env.filters["as_number"] = lambda v: float(v) if "." in str(v) else int(v)
    env.filters["as_bool"] = _as_bool
    env.filters["as_text"] = str
    return env


def _render(value: Any, env: NativeEnvironment, where: str) -> Any:
    if isinstance(value, dict):
        return {k: _render(v, env, where) for k, v in value.items()}
    if isinstance(value, list):
        return [_render(v, env, where) for v in value]
    if isinstance(value, str) and "{{" in value:
        try:
            return env.from_string(value).render()
        except _MissingEnvVar as missing:
            raise ProjectError(
                f"{where}: environment variable {missing} is not set and has no default"
            ) from None
    return value


def load_target(project: Project, target_name: str | None = None) -> Target:
    """The profile output named `target_name`, or the profile's default target."""
    path = project.profiles_dir / "profiles.yml"
    try:
        profiles = yaml.safe_load(path.read_text()) or {}
    except yaml.YAMLError as error:
        raise ProjectError(f"{path}: not valid YAML: {error}".splitlines()[0]) from None
    profile = profiles.get(project.profile_name)
    if not isinstance(profile, dict):
        raise ProjectError(
            f"{path}: no profile '{project.profile_name}' (the 'profile' of dbt_project.yml); "
            f"{did_you_mean(project.profile_name, [k for k in profiles if k != 'config'])}"
        )
    env = _environment()
    outputs = profile.get("outputs") or {}
    name = target_name or os.environ.get("DBT_TARGET") or _render(profile.get("target"), env, str(path))
    if name not in outputs:
        raise ProjectError(
            f"{path}: profile '{project.profile_name}' has no target '{name}'; "
            f"{did_you_mean(str(name), outputs)}"
        )
    credentials = _render(outputs[name], env, f"{path}: target '{name}'")
    adapter = credentials.get("type")
    if adapter not in DIALECT_OF_ADAPTER:
        raise ProjectError(
            f"{path}: target '{name}' has type '{adapter}'; supported: "
            + ", ".join(sorted(DIALECT_OF_ADAPTER))
        )
    if adapter == "duckdb":
        credentials = {**credentials, "path": _duckdb_path(project.root, credentials.get("path"))}
    schema = credentials.get("schema") or credentials.get("dataset") or "main"
    return Target(name=name, adapter=adapter, schema=str(schema), credentials=credentials)


def _duckdb_path(root: Path, path: Any) -> str:
    # dbt resolves a relative path from the folder it runs in; fs runs dbt from the
    # project root, so both resolve it from there.
    if not path or path == ":memory:":
        return ":memory:"
    resolved = Path(str(path)).expanduser()
    return str(resolved if resolved.is_absolute() else root / resolved)
