"""Reading the project's YAML files, with one-line errors that name the file."""

from __future__ import annotations

from pathlib import Path

import yaml

from featurestore.errors import ProjectError


# libyaml's loader when PyYAML was built with it: the same documents and errors, about ten
# times faster than the pure-Python one (10 ms for a small file here), and every command reads
# a few of these files before it starts (profiles.yml too: project/profiles.py).
YAML_LOADER = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


def read_yaml(path: Path) -> dict:
    try:
        data = yaml.load(path.read_text(), Loader=YAML_LOADER) or {}
    except (OSError, UnicodeDecodeError) as error:
        raise ProjectError(f"cannot read {path}: {getattr(error, 'strerror', None) or error}") from error
    except yaml.YAMLError as error:
        raise ProjectError(f"{path}: not valid YAML: {error}".splitlines()[0]) from error
    if not isinstance(data, dict):
        raise ProjectError(f"{path}: expected a mapping at the top level")
    return data
