"""`fs init`: make an existing dbt project ready for the feature store, changing only what is
missing, so running it again changes nothing and says so.

What it does (docs/your-project.md): copies the dbt package fs ships into the project
(fs_packages/featurestore, see featurestore.project.package for why a copy), points the
project's packages.yml at it, runs `dbt deps`, writes a commented feature_store.yml when
there is none, and adds what fs writes (.fs/) and dbt writes to .gitignore.
"""

from __future__ import annotations

import filecmp
import os
import re
import shutil
from dataclasses import dataclass, field
from pathlib import Path

from featurestore.version import __version__
from featurestore.console import Console
from featurestore.errors import ProjectError
from featurestore.project.dbt_project import Project
from featurestore.project.package import (
    PACKAGE_NAME,
    VENDORED_PATH,
    missing_packages,
    package_entries,
    package_version,
    project_package,
    shipped_package,
)
from featurestore.project.settings import SETTINGS_FILE

IGNORED = (".fs/", "target/", "dbt_packages/", "logs/")
"""What .gitignore should list: fs's own folder (the project's Redis socket and state), and
what dbt writes (fs runs dbt). fs_packages/ is not among them: it is meant to be committed."""

SETTINGS_TEMPLATE = """\
# Feature store settings that dbt has no place for (docs/configuration.md). Written by fs init.
# Every setting is optional and left commented out: fs works without any of them.

# online:
#   # The Redis that fs sync writes and fs get, fs serve and fs verify-online read. Unset:
#   # --redis-url or $FS_REDIS_URL, else fs starts a Redis server of the project's own
#   # on .fs/redis.sock (fs stop stops it).
#   redis_url: redis://127.0.0.1:6379/0
#   # Every Redis key this project writes starts with this. Unset: fs:<dbt project name>.
#   # Give two projects sharing one Redis different prefixes.
#   key_prefix: "fs:{name}"

# clock:
#   # A frozen "now", naive UTC, for historical data: online reads, ttl expiry, fs check
#   # and fs verify-online use it instead of the wall clock (training sets never do: their
#   # "now" is each spine row's timestamp). Unset: the real clock. Remove it for live data.
#   now: "2024-01-01T00:00:00"

# lineage:
#   # OpenLineage events of fs training-set, sync and push, named as dbt-ol names the models
#   # (docs/reproducibility.md; pip install the lineage extra). Unset: none are sent, unless
#   # the client's own OPENLINEAGE_URL / OPENLINEAGE_CONFIG environment is set.
#   namespace: fs
#   transport:
#     type: http
#     url: http://localhost:5000
"""


@dataclass(frozen=True)
class InitStep:
    """One thing fs init looked at: what it found or did."""

    line: str
    changed: bool


@dataclass
class InitReport:
    root: Path
    steps: list[InitStep] = field(default_factory=list)

    @property
    def changed(self) -> bool:
        return any(step.changed for step in self.steps)

    def add(self, line: str, changed: bool) -> None:
        self.steps.append(InitStep(line, changed))


def init_project(project: Project, console: Console, target_name: str | None = None) -> InitReport:
    """Set up `project` for fs; see the module's docstring. Raises ProjectError with the file's
    name when a file cannot be read or written."""
    report = InitReport(project.root)
    package_changed = _vendor_package(project.root, report)
    entry_changed = _add_package_entry(project.root, report)
    install_path = project.config.get("packages-install-path", "dbt_packages")
    missing = missing_packages(project.root, install_path)
    if package_changed or entry_changed or missing:
        from featurestore.project.dbt_runner import run_dbt

        run_dbt(project, ["deps"], target_name, console)
        report.add(f"ran dbt deps: the package is installed in {install_path}/{PACKAGE_NAME}", True)
    _write_settings(project, report)
    _ignore_outputs(project.root, report)
    return report


def _vendor_package(root: Path, report: InitReport) -> bool:
    existing = project_package(root)
    target = root / VENDORED_PATH
    if existing is not None and existing.path != target.resolve():
        # The project points at a copy of its own (this repository's demo points at the
        # package's source): keep it; every command compares its version with fs's.
        line = f"{existing.declared_in.name} already points at the featurestore package in {_shown(root, existing.path)}"
        if not existing.path.is_relative_to(root.resolve()):
            line += (
                ", outside the project, where a new virtualenv, a teammate's clone or CI will not find it: "
                f"replace that entry with local: {VENDORED_PATH} and run fs init again"
            )
        report.add(line, False)
        return False
    source = shipped_package()
    if target.is_dir() and _same_tree(source, target):
        report.add(f"{VENDORED_PATH}: the featurestore dbt package {__version__}, unchanged", False)
        return False
    was = package_version(target) if target.is_dir() else None
    staging = target.parent / f".{PACKAGE_NAME}.new"
    try:
        shutil.rmtree(staging, ignore_errors=True)
        shutil.copytree(source, staging, ignore=shutil.ignore_patterns("__pycache__"))
        if target.exists():
            shutil.rmtree(target)
        os.replace(staging, target)
    except OSError as error:
        raise ProjectError(f"cannot write {target}: {error.strerror or error}") from error
    if was is None:
        report.add(f"{VENDORED_PATH}: copied the featurestore dbt package {__version__} (commit it)", True)
    else:
        report.add(f"{VENDORED_PATH}: updated the featurestore dbt package from {was} to {__version__}", True)
    return True


def _same_tree(source: Path, target: Path) -> bool:
    def files(folder: Path) -> set[str]:
        return {p.relative_to(folder).as_posix() for p in folder.rglob("*") if p.is_file() and "__pycache__" not in p.parts}

    names = files(source)
    return names == files(target) and all(filecmp.cmp(source / n, target / n, shallow=False) for n in names)


def _add_package_entry(root: Path, report: InitReport) -> bool:
    path, entries = package_entries(root)
    if project_package(root) is not None:
        if any(isinstance(e, dict) and str(e.get("local", "")).rstrip("/") == VENDORED_PATH for e in entries):
            report.add(f"{path.name} already lists local: {VENDORED_PATH}", False)
        return False
    line = f"  - local: {VENDORED_PATH}  # the feature store's dbt package (fs init)\n"
    if not path.is_file():
        _write(path, f"packages:\n{line}")
        report.add(f"{path.name}: written, with local: {VENDORED_PATH}", True)
        return True
    text = _read(path)
    if entries:
        # Appended as text so the file's comments stay; only a file with nothing after its
        # list (the usual packages.yml) can take a line at its end.
        top_level = [m.group(1) for m in re.finditer(r"^([A-Za-z_][\w-]*)\s*:", text, flags=re.M)]
        if top_level[-1:] != ["packages"]:
            raise ProjectError(
                f"{path}: cannot add the package after its last section; add '- local: {VENDORED_PATH}' "
                "under packages: by hand and run fs init again"
            )
        indent = re.search(r"^(\s*)-", text[text.index("packages"):], flags=re.M)
        line = f"{indent.group(1) if indent else '  '}- local: {VENDORED_PATH}  # the feature store's dbt package (fs init)\n"
        _write(path, text + ("" if text.endswith("\n") else "\n") + line)
    else:
        body = re.sub(r"^packages\s*:.*$", "", text, flags=re.M).rstrip("\n")
        _write(path, (body + "\n" if body else "") + f"packages:\n{line}")
    report.add(f"{path.name}: added local: {VENDORED_PATH}", True)
    return True


def _write_settings(project: Project, report: InitReport) -> None:
    path = project.root / SETTINGS_FILE
    if path.exists():
        report.add(f"{SETTINGS_FILE} exists: kept as it is", False)
        return
    _write(path, SETTINGS_TEMPLATE.replace("{name}", project.name))
    report.add(f"{SETTINGS_FILE}: written, every setting explained and commented out", True)


def _ignore_outputs(root: Path, report: InitReport) -> None:
    path = root / ".gitignore"
    text = _read(path) if path.exists() else ""
    listed = {line.strip().strip("/") for line in text.splitlines()}
    missing = [entry for entry in IGNORED if entry.strip("/") not in listed]
    if not missing:
        report.add(f".gitignore already lists {', '.join(IGNORED)}", False)
        return
    addition = "# fs and dbt outputs (fs init)\n" + "".join(f"{entry}\n" for entry in missing)
    _write(path, text + ("\n" if text and not text.endswith("\n") else "") + addition)
    report.add(f".gitignore: added {', '.join(missing)}", True)


def _read(path: Path) -> str:
    try:
        return path.read_text()
    except (OSError, UnicodeDecodeError) as error:
        raise ProjectError(f"cannot read {path}: {getattr(error, 'strerror', None) or error}") from error


def _write(path: Path, text: str) -> None:
    try:
        path.write_text(text)
    except OSError as error:
        raise ProjectError(f"cannot write {path}: {error.strerror or error}") from error


def _shown(root: Path, path: Path) -> str:
    try:
        return path.relative_to(root.resolve()).as_posix()
    except ValueError:
        return str(path)
