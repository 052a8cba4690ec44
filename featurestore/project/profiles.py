"""Reading the dbt profile to learn which warehouse a project's target points at.

dbt renders profiles.yml with Jinja (`env_var`, `as_number`, ...); this module renders it the
same way so that `fs` and `dbt` always talk to the same database. Which engine serves the
target's adapter type, and what its credentials mean, is for featurestore.engines to say.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from featurestore.errors import ProjectError, did_you_mean, first_line
from featurestore.project.dbt_project import Project
from featurestore.project.files import YAML_LOADER

@dataclass(frozen=True)
class Target:
    """One output of a dbt profile: the warehouse that models are built in."""

    name: str
    adapter: str
    """The dbt adapter type (`type:` in profiles.yml)."""
    schema: str
    credentials: dict[str, Any] = field(repr=False)
    profiles_path: Path | None = None
    """The profiles.yml it was read from, for messages."""
    rendered: dict[str, Any] = field(default_factory=dict, repr=False, compare=False)
    """The output as rendered from profiles.yml, as dbt sees it: `credentials` may be resolved
    further by the engine (a relative database file path made absolute)."""

    def described(self) -> str:
        """`<profiles.yml>: target '<name>'`, for messages about the target."""
        return f"{self.profiles_path or 'profiles.yml'}: target '{self.name}'"


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


def _as_number(value: Any) -> int | float:
    try:
        return float(value) if "." in str(value) else int(value)
    except ValueError:
        # Python's message quotes the value, which may be a password (env vars swapped): the
        # line and the --debug traceback say what was wrong without it.
        raise ValueError("its value is not a number (left out: it may be a secret)") from None


_FILTERS = {
    "as_number": _as_number,
    "as_bool": _as_bool,
    "as_text": str,
}

# The idiom nearly every dbt profile uses: {{ env_var('NAME'[, 'default']) [| filter] }}.
_ENV_VAR = re.compile(
    r"""\{\{\s*env_var\(\s*(['"])(?P<name>[^'"]+)\1\s*(?:,\s*(['"])(?P<default>[^'"]*)\3\s*)?\)"""
    r"""\s*(?:\|\s*(?P<filter>as_number|as_bool|as_text)\s*)?\}\}"""
)


def _render_env_vars(text: str) -> Any:
    """`text` rendered when it uses only the env_var idiom, as dbt renders it: text, unless
    the whole value is one expression with a filter (as_number gives a number). Raises
    LookupError for anything else, which Jinja then renders."""

    def value(match: re.Match) -> Any:
        name, default = match.group("name"), match.group("default")
        raw = _env_var(name, default)
        return _FILTERS[match.group("filter")](raw) if match.group("filter") else raw

    whole = _ENV_VAR.fullmatch(text.strip())
    if whole:
        return value(whole)
    remainder = _ENV_VAR.sub("", text)
    if "{{" in remainder or "{%" in remainder or "{#" in remainder:
        raise LookupError  # no text: the chained exception --debug prints must not quote a value
    return _ENV_VAR.sub(lambda m: str(value(m)), text)


def _environment():
    # Imported only for profiles that go beyond env_var(): Jinja costs 0.1 s to import.
    from jinja2.nativetypes import NativeEnvironment

    env = NativeEnvironment()
    env.globals["env_var"] = _env_var
    env.filters.update(_FILTERS)
    return env


def _render(value: Any, where: str) -> Any:
    if isinstance(value, dict):
        return {k: _render(v, f"{where}, key '{k}'" if "key '" not in where else where) for k, v in value.items()}
    if isinstance(value, list):
        return [_render(v, where) for v in value]
    if isinstance(value, str) and ("{{" in value or "{%" in value):
        try:
            try:
                return _render_env_vars(value)
            except LookupError:
                return _environment().from_string(value).render()
        except _MissingEnvVar as missing:
            raise ProjectError(
                f"{where}: environment variable {missing} is not set and has no default"
            ) from None
        except (ValueError, TypeError) as error:
            # A filter refused the value (as_number of text): say where, not which Python call.
            raise ProjectError(f"{where}: {value.strip()} cannot be rendered: {first_line(error)}") from error
        except Exception as error:
            from jinja2 import TemplateError

            if not isinstance(error, TemplateError):
                raise
            # Text that only looks like Jinja may be a secret (a password holding `{{`, a
            # typo in the env_var idiom around a secret default): the line names the key, and
            # Jinja's reason loses what it quotes of the text. `from None`, against the
            # house habit, since Jinja's error (what --debug prints) shows the source line.
            reason = re.sub(r"'[^']*'", "'…'", first_line(error))
            raise ProjectError(f"{where}: its value is not a valid template ({reason}; the value is left out: it may be a secret)") from None
    return value


def load_target(project: Project, target_name: str | None = None) -> Target:
    """The profile output named `target_name`, or the profile's default target."""
    path = project.profiles_dir / "profiles.yml"
    try:
        profiles = yaml.load(path.read_text(), Loader=YAML_LOADER) or {}
    except yaml.YAMLError as error:
        raise ProjectError(f"{path}: not valid YAML: {error}".splitlines()[0]) from error
    profile = profiles.get(project.profile_name)
    if not isinstance(profile, dict):
        raise ProjectError(
            f"{path}: no profile '{project.profile_name}' ({project.profile_origin}); "
            f"{did_you_mean(project.profile_name, [k for k in profiles if k != 'config'])}"
        )
    outputs = profile.get("outputs") or {}
    name = target_name or os.environ.get("DBT_TARGET") or _render(profile.get("target"), str(path))
    if name not in outputs:
        raise ProjectError(
            f"{path}: profile '{project.profile_name}' has no target '{name}'; "
            f"{did_you_mean(str(name), outputs)}"
        )
    credentials = _render(outputs[name], f"{path}: target '{name}'")
    schema = credentials.get("schema") or credentials.get("dataset") or "main"
    return Target(
        name=name,
        adapter=str(credentials.get("type")),
        schema=str(schema),
        credentials=credentials,
        profiles_path=path,
        rendered=credentials,
    )
