"""Reading the project's YAML files, with one-line errors that name the file."""

from __future__ import annotations

from pathlib import Path

import yaml

from featurestore.errors import ProjectError


def read_yaml(path: Path) -> dict:
    try:
        data = yaml.safe_load(path.read_text()) or {}
    except (OSError, UnicodeDecodeError) as error:
        raise ProjectError(f"cannot read {path}: {getattr(error, 'strerror', None) or error}") from error
    except yaml.YAMLError as error:
        raise ProjectError(f"{path}: not valid YAML: {error}".splitlines()[0]) from error
    if not isinstance(data, dict):
        raise ProjectError(f"{path}: expected a mapping at the top level")
    return data
