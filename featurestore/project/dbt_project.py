"""Finding the dbt project and its profiles folder, and what fs needs of dbt_project.yml."""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path

from featurestore.errors import ProjectError, UsageError
from featurestore.project.files import read_yaml
from featurestore.project.settings import SETTINGS_FILE, Settings, load_settings


@dataclass(frozen=True)
class Project:
    """A dbt project on disk and where its profiles are."""

    root: Path
    name: str
    profile_name: str
    target_path: Path
    profiles_dir: Path
    settings: Settings
    config: dict = field(default_factory=dict, repr=False, compare=False)
    """dbt_project.yml as read once (parsing it again would cost a few ms per command)."""
    profile_origin: str = "the 'profile' of dbt_project.yml"
    """Where `profile_name` came from, for messages."""

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
    """The folder of profiles.yml, found as dbt finds it: --profiles-dir, else
    DBT_PROFILES_DIR, else the project folder if it holds a profiles.yml, else ~/.dbt.

    dbt-core (`default_profiles_dir`) looks in the folder it runs in, then ~/.dbt. dbt runs
    in the project folder: fs runs it there, and a relative DuckDB path in a profile means
    the project's file only there; so fs takes the project folder, from a subfolder too
    (and not whatever folder fs itself is started in with --project-dir). A `profiles/`
    folder is not looked in, since dbt does not: fs reading it while dbt read ~/.dbt would
    make them open different databases."""
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
    searched = [root, Path.home() / ".dbt"]
    for folder in searched:
        if (folder / "profiles.yml").is_file():
            return folder
    legacy = root / "profiles"
    hint = (
        f"; dbt does not look in {legacy}: move its profiles.yml to {root}, or pass --profiles-dir {legacy}"
        if (legacy / "profiles.yml").is_file()
        else "; pass --profiles-dir or set DBT_PROFILES_DIR"
    )
    raise UsageError(f"no profiles.yml found: looked in {', '.join(map(str, searched))}{hint}")


def load_project(
    project_dir: str | os.PathLike | None = None,
    profiles_dir: str | os.PathLike | None = None,
) -> Project:
    root = find_project_root(Path(project_dir) if project_dir else Path.cwd())
    config = read_yaml(root / "dbt_project.yml")
    name = config.get("name")
    if not name:
        raise ProjectError(f"{root / 'dbt_project.yml'}: the project has no 'name'")
    profile_name, profile_origin = _profile_name(config, name)
    return Project(
        root=root,
        name=name,
        profile_name=profile_name,
        profile_origin=profile_origin,
        target_path=root / config.get("target-path", "target"),
        profiles_dir=resolve_profiles_dir(root, profiles_dir),
        settings=load_settings(root / SETTINGS_FILE),
        config=config,
    )


def _profile_name(config: dict, project_name: str) -> tuple[str, str]:
    """The profile's name and where it came from. DBT_PROFILE is the environment variable of
    dbt's --profile, which overrides dbt_project.yml's `profile` (dbt-core's cli/params.py);
    fs has no such flag, so the variable counts for both. Without either, dbt refuses to run,
    and fs tries the project's name."""
    if os.environ.get("DBT_PROFILE"):
        return os.environ["DBT_PROFILE"], "the DBT_PROFILE environment variable, which overrides the 'profile' of dbt_project.yml"
    if config.get("profile"):
        return config["profile"], "the 'profile' of dbt_project.yml"
    return project_name, "the project's name: dbt_project.yml has no 'profile'"
