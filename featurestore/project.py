"""Finding the dbt project, its profiles folder, and the feature store's own settings.

The settings live in `feature_store.yml` at the project root, beside `dbt_project.yml`:
they describe the online store and the clock, which dbt has no place for.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

import yaml

from featurestore.errors import ProjectError, UsageError, did_you_mean

SETTINGS_FILE = "feature_store.yml"


@dataclass(frozen=True)
class Settings:
    """Project-level settings from `feature_store.yml` (every field optional)."""

    redis_url: str | None = None
    """Redis URL used when neither --redis-url nor FS_REDIS_URL is given."""
    key_prefix: str | None = None
    """Prefix of every Redis key this project writes; default `fs:<dbt project name>`."""
    reference_time: datetime | None = None
    """A fixed "now" (naive UTC) for replaying historical data; default: the real clock."""


@dataclass(frozen=True)
class Project:
    """A dbt project on disk and where its profiles are."""

    root: Path
    name: str
    profile_name: str
    target_path: Path
    profiles_dir: Path
    settings: Settings

    @property
    def manifest_path(self) -> Path:
        return self.target_path / "manifest.json"


def find_project_root(start: Path) -> Path:
    """The nearest folder at or above `start` holding a dbt_project.yml."""
    start = start.resolve()
    for folder in (start, *start.parents):
        if (folder / "dbt_project.yml").is_file():
            return folder
    raise UsageError(
        f"no dbt_project.yml in {start} or any folder above it; "
        "run from inside a dbt project or pass --project-dir"
    )


def resolve_profiles_dir(root: Path, profiles_dir: str | os.PathLike | None) -> Path:
    """--profiles-dir, else DBT_PROFILES_DIR, else the project's profiles/, else ~/.dbt."""
    candidates = [
        ("--profiles-dir", profiles_dir),
        ("DBT_PROFILES_DIR", os.environ.get("DBT_PROFILES_DIR")),
    ]
    for origin, value in candidates:
        if value:
            folder = Path(value).expanduser().resolve()
            if not (folder / "profiles.yml").is_file():
                raise UsageError(f"{origin} points at {folder}, which has no profiles.yml")
            return folder
    for folder in (root / "profiles", Path.home() / ".dbt"):
        if (folder / "profiles.yml").is_file():
            return folder
    raise UsageError(
        f"no profiles.yml found: looked in {root / 'profiles'} and {Path.home() / '.dbt'}; "
        "pass --profiles-dir or set DBT_PROFILES_DIR"
    )


def load_project(
    project_dir: str | os.PathLike | None = None,
    profiles_dir: str | os.PathLike | None = None,
) -> Project:
    root = find_project_root(Path(project_dir) if project_dir else Path.cwd())
    config = _read_yaml(root / "dbt_project.yml")
    name = config.get("name")
    if not name:
        raise ProjectError(f"{root / 'dbt_project.yml'}: the project has no 'name'")
    return Project(
        root=root,
        name=name,
        profile_name=config.get("profile") or name,
        target_path=root / config.get("target-path", "target"),
        profiles_dir=resolve_profiles_dir(root, profiles_dir),
        settings=load_settings(root / SETTINGS_FILE),
    )


_SETTINGS_KEYS = {"online": {"redis_url", "key_prefix"}, "clock": {"now"}}


def load_settings(path: Path) -> Settings:
    """Read and strictly validate feature_store.yml; a missing file means defaults."""
    if not path.is_file():
        return Settings()
    raw = _read_yaml(path)
    for section, value in raw.items():
        if section not in _SETTINGS_KEYS:
            raise ProjectError(
                f"{path}: unknown section '{section}'; {did_you_mean(section, _SETTINGS_KEYS)}"
            )
        if not isinstance(value, dict):
            raise ProjectError(f"{path}: '{section}' must be a mapping of settings")
        for key in value:
            if key not in _SETTINGS_KEYS[section]:
                raise ProjectError(
                    f"{path}: unknown setting '{section}.{key}'; "
                    f"{did_you_mean(key, _SETTINGS_KEYS[section])}"
                )
    online = raw.get("online") or {}
    now = (raw.get("clock") or {}).get("now")
    return Settings(
        redis_url=online.get("redis_url"),
        key_prefix=online.get("key_prefix"),
        reference_time=_parse_reference_time(path, now) if now is not None else None,
    )


def _parse_reference_time(path: Path, value: object) -> datetime:
    if isinstance(value, datetime):
        parsed = value
    else:
        try:
            parsed = datetime.fromisoformat(str(value))
        except ValueError:
            raise ProjectError(
                f"{path}: clock.now '{value}' is not an ISO timestamp (valid: 2014-01-01T06:00:00)"
            ) from None
    if parsed.tzinfo is not None:
        raise ProjectError(f"{path}: clock.now must be naive UTC, without an offset")
    return parsed


def _read_yaml(path: Path) -> dict:
    try:
        data = yaml.safe_load(path.read_text()) or {}
    except yaml.YAMLError as error:
        raise ProjectError(f"{path}: not valid YAML: {error}".splitlines()[0]) from None
    if not isinstance(data, dict):
        raise ProjectError(f"{path}: expected a mapping at the top level")
    return data
