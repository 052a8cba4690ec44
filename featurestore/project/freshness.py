"""What a manifest was parsed from, recorded beside it, so fs knows when to parse again.

dbt bakes into target/manifest.json the target it was parsed for (its database and schema are
every relation's name), every project file it read, its own version and the project's vars.
Each time fs runs dbt parse or build it records those inputs, the manifest's key, in
target/fs_manifest_key.json, and a manifest whose recorded key differs from the project's now
is parsed again, saying why in one line. Comparing file modification times alone missed a
deleted or renamed file, and a target of the same adapter (dev and prod) shared a manifest.

The target's settings hold passwords: the key keeps them only as a salted hash.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import os
import re
from pathlib import Path
from typing import Any

from featurestore.redact import SECRET_KEY
from featurestore.project.dbt_project import Project
from featurestore.project.profiles import Target

KEY_FILE = "fs_manifest_key.json"
_FORMAT = 1

_PATH_KEYS = {
    "model-paths": ["models"],
    "macro-paths": ["macros"],
    "seed-paths": ["seeds"],
    "snapshot-paths": ["snapshots"],
    "test-paths": ["tests"],
    "analysis-paths": ["analyses"],
    "function-paths": ["functions"],  # dbt 1.11's user-defined functions, and their YAML
    "docs-paths": [],
    "packages-install-path": "dbt_packages",  # installed packages are parsed like the project
}
_TOP_LEVEL_FILES = ("dbt_project.yml", "packages.yml", "dependencies.yml", "selectors.yml", ".dbtignore")
_DBT_FILE_SUFFIXES = {".sql", ".yml", ".yaml", ".csv", ".py", ".md"}


@dataclasses.dataclass(frozen=True)
class ManifestKey:
    """Everything that changes what dbt writes in a manifest, as compared between runs."""

    target: str
    adapter: str
    schema: str
    settings: str
    """Salted hash of the target's rendered settings (database, path, host, user, password...)."""
    dbt: tuple[str, ...]
    """The installed dbt distributions, `name-version` (dbt-core and the adapters)."""
    vars: str
    """Salted hash of the `vars` of dbt_project.yml."""
    files: dict[str, tuple[int, int]]
    """Each project file dbt reads, relative to the project: (size, mtime in ns)."""
    salt: str
    env: str = ""
    """Salted hash of the environment variables the project's files read with env_var() (a
    schema or a var may come from one), secret-looking names left out."""


def current_key(project: Project, target: Target, salt: str | None = None) -> ManifestKey:
    """The key of the project as it is now; `salt` is the recorded key's, to compare hashes."""
    salt = salt or os.urandom(8).hex()
    config = project.config
    files = _dbt_input_files(project, config)
    return ManifestKey(
        target=target.name,
        adapter=target.adapter,
        schema=target.schema,
        # What dbt renders, not the engine's resolved form: a moved project is the same one.
        # Secrets left out: they do not change what the manifest says, and a salted hash of a
        # weak password beside its salt could be guessed from a shared CI artifact.
        settings=_digest(salt, _without_secrets(target.rendered or target.credentials)),
        dbt=_installed_dbt(),
        vars=_digest(salt, config.get("vars") or {}),
        files=files,
        salt=salt,
        env=_digest(salt, _env_vars_read(project, files)),
    )


def _without_secrets(settings: dict) -> dict:
    return {k: v for k, v in settings.items() if not SECRET_KEY.search(str(k))}


def stale_reason(project: Project, target: Target) -> tuple[str | None, ManifestKey]:
    """Why the manifest must be parsed again (None when it need not), and the key of now."""
    recorded, manifest_stamp = _read_record(project)
    key = current_key(project, target, recorded.salt if recorded else None)
    manifest = project.manifest_path
    if not manifest.is_file():
        return f"{_shown(project, manifest)} is missing", key
    if recorded is None or manifest_stamp != _stamp(manifest):
        # A plain dbt build or run wrote it: taken as it is when dbt's own artifacts show it
        # was written for this target from the files as they are now (project/dbt_artifacts).
        refused = _refusal_of_dbts_manifest(project, target)
        if refused is None:
            record(project, key)
            return None, key
        if recorded is None:
            return f"{_shown(project, manifest)} has no record of the target and files it was parsed from, and {refused}", key
        return f"{_shown(project, manifest)} was written outside fs since fs last parsed it, and {refused}", key
    return difference(recorded, key), key


def _refusal_of_dbts_manifest(project: Project, target: Target) -> str | None:
    from featurestore.project.dbt_artifacts import refusal

    folders: dict[str, int] = {}
    files = _dbt_input_files(project, project.config, folders)
    inputs = {**{name: stamp[1] for name, stamp in files.items()}, **folders}
    if target.profiles_path is not None:
        inputs[str(target.profiles_path)] = _stamp(target.profiles_path)[1]
    refused = refusal(project, target, inputs, _env_vars_read(project, files), _installed_dbt_times())
    if refused is None:
        from featurestore.project.partial_parse import unseen_change

        # Every file older than dbt's run, and still one its partial parse did not read.
        unseen = unseen_change(project)
        if unseen is not None:
            return f"dbt's partial parse took {unseen} as unchanged (it has the modification time dbt saved for other contents)"
    return refused


def difference(recorded: ManifestKey, now: ManifestKey) -> str | None:
    """The first way `now` differs from `recorded`, as a line for the user; None if alike."""
    if recorded.target != now.target:
        return f"the target changed ({recorded.target} -> {now.target})"
    if (recorded.adapter, recorded.schema) != (now.adapter, now.schema):
        was, is_ = f"{recorded.adapter}, schema {recorded.schema}", f"{now.adapter}, schema {now.schema}"
        return f"target '{now.target}' changed ({was} -> {is_})"
    if recorded.settings != now.settings:
        return f"the settings of target '{now.target}' changed (profiles.yml or the environment it reads)"
    if recorded.dbt != now.dbt:
        gone, new = sorted(set(recorded.dbt) - set(now.dbt)), sorted(set(now.dbt) - set(recorded.dbt))
        return f"the installed dbt changed ({', '.join(gone) or 'none'} -> {', '.join(new) or 'none'})"
    if recorded.vars != now.vars:
        return "the vars in dbt_project.yml changed"
    if recorded.env != now.env and recorded.files == now.files:
        return "an environment variable that the project's files read with env_var() changed"
    return _files_difference(recorded.files, now.files)


def _files_difference(recorded: dict[str, tuple[int, int]], now: dict[str, tuple[int, int]]) -> str | None:
    changes = [f"{path} was deleted" for path in sorted(recorded.keys() - now.keys())]
    changes += [f"{path} is new" for path in sorted(now.keys() - recorded.keys())]
    changes += [
        f"{path} changed since the last parse"
        for path in sorted(recorded.keys() & now.keys())
        if recorded[path] != now[path]
    ]
    if not changes:
        return None
    more = len(changes) - 1
    return changes[0] + (f" (and {more} more file{'s' if more > 1 else ''})" if more else "")


def record(project: Project, key: ManifestKey) -> None:
    """Record `key` as the one the manifest on disk was written from. Written to a temporary
    file and renamed, so a command running meanwhile reads the old record or the new one."""
    document = {
        "format": _FORMAT,
        "manifest": list(_stamp(project.manifest_path)),
        "key": dataclasses.asdict(key),
    }
    path = project.target_path / KEY_FILE
    partial = path.with_name(f".{KEY_FILE}.{os.getpid()}")
    partial.write_text(json.dumps(document, indent=1, sort_keys=True))
    os.replace(partial, path)


def forget(project: Project) -> None:
    """Drop the record before dbt rewrites the manifest: if dbt fails half-way, the next
    command parses again instead of trusting a record of another manifest."""
    (project.target_path / KEY_FILE).unlink(missing_ok=True)


def _read_record(project: Project) -> tuple[ManifestKey | None, tuple[int, int] | None]:
    """The recorded key and manifest stamp; (None, None) when absent or unreadable (then the
    manifest is parsed again, which writes a good record)."""
    try:
        document = json.loads((project.target_path / KEY_FILE).read_text())
        if document.get("format") != _FORMAT:
            return None, None
        fields = document["key"]
        key = ManifestKey(
            **{**fields, "dbt": tuple(fields["dbt"]), "files": {p: tuple(v) for p, v in fields["files"].items()}}
        )
        return key, tuple(document["manifest"])
    except (OSError, ValueError, KeyError, TypeError):
        return None, None


def _digest(salt: str, value: Any) -> str:
    text = json.dumps(value, sort_keys=True, default=str)
    return hashlib.sha256(f"{salt}:{text}".encode()).hexdigest()


def _stamp(path: Path) -> tuple[int, int]:
    try:
        status = path.stat()
    except OSError:
        return (-1, -1)
    return (status.st_size, status.st_mtime_ns)


def _installed_dbt() -> tuple[str, ...]:
    """dbt-core and adapter versions from the names of their dist-info folders beside the
    dbt package: a folder listing costs well under a millisecond, where importlib.metadata
    costs some 45 ms and importing dbt far more."""
    return tuple(sorted(_installed_dbt_times()))


def _installed_dbt_times() -> dict[str, int]:
    """`name-version` of dbt-core and each adapter -> when it was installed (its dist-info
    folder's mtime, ns)."""
    import importlib.util

    spec = importlib.util.find_spec("dbt")
    folders = list(spec.submodule_search_locations or []) if spec else []
    found = {}
    for folder in folders:
        site = os.path.dirname(folder)
        for name in os.listdir(site):
            if name.startswith("dbt") and name.endswith(".dist-info"):
                found[name[: -len(".dist-info")]] = _stamp(Path(site) / name)[1]
    return found


_ENV_VAR = re.compile(r"""env_var\(\s*['"]([^'"]+)['"]""")


def _env_vars_read(project: Project, files: dict[str, tuple[int, int]]) -> dict[str, str | None]:
    """Name -> value of each environment variable a project file names in env_var(), but
    those whose names look secret (a password changes nothing dbt writes)."""
    names: set[str] = set()
    for name in files:
        try:
            text = (project.root / name).read_text(errors="replace")
        except OSError:
            continue
        if "env_var" in text:
            names.update(_ENV_VAR.findall(text))
    return {name: os.environ.get(name) for name in sorted(names) if not SECRET_KEY.search(name)}


def _dbt_input_files(project: Project, config: dict, folders: dict[str, int] | None = None) -> dict[str, tuple[int, int]]:
    """Every file dbt reads to parse the project, relative to it: (size, mtime in ns); and
    into `folders`, each folder holding them (relative path -> mtime in ns): a file added
    or deleted changes its folder's mtime."""
    files = {}
    for name in _TOP_LEVEL_FILES:
        stamp = _stamp(project.root / name)
        if stamp[0] >= 0:
            files[name] = stamp
    for key, default in _PATH_KEYS.items():
        paths = config.get(key, default)
        for folder in [paths] if isinstance(paths, str) else paths or []:
            _scan(project.root, project.root / folder, files, {str(project.target_path)}, folders)
    return files


def _scan(
    root: Path, folder: Path, files: dict[str, tuple[int, int]], skip: set[str], folders: dict[str, int] | None = None
) -> None:
    """os.scandir, recursively: an entry knows whether it is a folder without a stat call.
    The target folder is skipped (a model path of "." would reach it): dbt writes compiled
    SQL there, which would make every manifest stale."""
    try:
        entries = list(os.scandir(folder))
    except OSError:
        return
    if folders is not None:
        folders[Path(os.path.relpath(folder, root)).as_posix() + "/"] = _stamp(folder)[1]
    for entry in entries:
        if entry.is_dir():
            if entry.path not in skip:
                _scan(root, Path(entry.path), files, skip, folders)
        elif os.path.splitext(entry.name)[1] in _DBT_FILE_SUFFIXES and entry.is_file():
            status = entry.stat()
            files[Path(os.path.relpath(entry.path, root)).as_posix()] = (status.st_size, status.st_mtime_ns)


def _shown(project: Project, path: Path) -> str:
    return str(path.relative_to(project.root)) if path.is_relative_to(project.root) else str(path)
