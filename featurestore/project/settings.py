"""The feature store's own settings: `feature_store.yml` at the project root, beside
`dbt_project.yml`. They describe the online store and the clock, which dbt has no place for."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

from featurestore.errors import ProjectError, did_you_mean
from featurestore.project.files import read_yaml

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
    lineage_namespace: str | None = None
    """The OpenLineage namespace of fs's jobs; default $OPENLINEAGE_NAMESPACE, else `fs`."""
    lineage_transport: dict | None = None
    """The openlineage-python client's transport (its own config format: `type: http`,
    `url: ...`, or `type: file`, `log_file_path: ...`); set, fs emits lineage events."""


_SETTINGS_KEYS = {"online": {"redis_url", "key_prefix"}, "clock": {"now"}, "lineage": {"namespace", "transport"}}


def load_settings(path: Path) -> Settings:
    """Read and strictly validate feature_store.yml; a missing file means defaults."""
    if not path.is_file():
        return Settings()
    raw = read_yaml(path)
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
    lineage = raw.get("lineage") or {}
    transport = lineage.get("transport")
    if transport is not None and not (isinstance(transport, dict) and transport.get("type")):
        raise ProjectError(f"{path}: lineage.transport must be a mapping with a type (valid: http, file, console, kafka...)")
    return Settings(
        redis_url=online.get("redis_url"),
        key_prefix=online.get("key_prefix"),
        reference_time=_parse_reference_time(path, now) if now is not None else None,
        lineage_namespace=lineage.get("namespace"),
        lineage_transport=transport,
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
