"""The dbt package fs ships inside its Python distribution (`featurestore/dbt`), and a
project's copy of it.

`fs init` copies the package into the project, `fs_packages/featurestore/`, and points
packages.yml at it with a relative `local:` path. Why a copy and not a path into the
installed distribution: a `local:` path into site-packages breaks when the virtualenv is
made again elsewhere, on a teammate's clone and in CI; a folder inside the project travels
with git, installs with `dbt deps` offline (a local package is linked, not downloaded), and
is the version the project was tested with. The copy's dbt_project.yml carries that version,
and every fs command compares it with its own (`version_warning`).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from featurestore.version import __version__
from featurestore.errors import ProjectError
from featurestore.project.files import read_yaml

PACKAGE_NAME = "featurestore"
"""The dbt package's name: its macros are `featurestore.<macro>`, its tests found by name."""
VENDORED_PATH = f"fs_packages/{PACKAGE_NAME}"
"""Where `fs init` puts the copy, relative to the project (the `local:` entry's path)."""
PACKAGE_FILES = ("packages.yml", "dependencies.yml")
"""Where dbt reads package entries from, in its order (packages.yml wins when both exist)."""


def shipped_package() -> Path:
    """The package as installed with fs (a folder of the distribution, not a Python module)."""
    return Path(__file__).resolve().parent.parent / "dbt"


def shipped_names() -> set[str]:
    """The macros and generic tests the shipped package defines, by the name a project uses
    (a test `x` is the macro `test_x`; both are listed)."""
    import re

    names: set[str] = set()
    for path in (shipped_package() / "macros").glob("*.sql"):
        for kind, name in re.findall(r"\{%-?\s*(macro|test)\s+(\w+)", path.read_text()):
            names.update({name, f"test_{name}"} if kind == "test" else {name})
    return names


def package_version(folder: Path) -> str | None:
    """The `version` of the dbt package in `folder`; None when there is none to read."""
    path = folder / "dbt_project.yml"
    if not path.is_file():
        return None
    version = read_yaml(path).get("version")
    return None if version is None else str(version)


@dataclass(frozen=True)
class ProjectPackage:
    """A project's reference to the featurestore dbt package."""

    declared_in: Path
    """packages.yml (or dependencies.yml) that names it."""
    path: Path
    """The folder the `local:` entry points at, resolved against the project."""
    version: str | None
    """Its dbt_project.yml's version; None when the folder is missing."""


def packages_file(root: Path) -> Path:
    """The file dbt reads package entries from: packages.yml, else dependencies.yml when only
    that exists, else packages.yml (to be written)."""
    for name in PACKAGE_FILES:
        if (root / name).is_file():
            return root / name
    return root / PACKAGE_FILES[0]


def package_entries(root: Path) -> tuple[Path, list]:
    """The packages file and its `packages:` entries ([] when it does not exist)."""
    path = packages_file(root)
    if not path.is_file():
        return path, []
    entries = read_yaml(path).get("packages") or []
    if not isinstance(entries, list):
        raise ProjectError(f"{path}: 'packages' must be a list of package entries")
    return path, entries


def project_package(root: Path) -> ProjectPackage | None:
    """The featurestore package the project's packages file points at with `local:`, or None."""
    path, entries = package_entries(root)
    for entry in entries:
        local = entry.get("local") if isinstance(entry, dict) else None
        if not local:
            continue
        folder = (root / str(local)).resolve()
        named = _package_name(folder)
        if named == PACKAGE_NAME or (named is None and folder.name == PACKAGE_NAME):
            return ProjectPackage(path, folder, package_version(folder))
    return None


def _package_name(folder: Path) -> str | None:
    try:
        return read_yaml(folder / "dbt_project.yml").get("name") if (folder / "dbt_project.yml").is_file() else None
    except ProjectError:
        return None


def version_warning(root: Path, version: str = __version__) -> str | None:
    """One line when the project's copy of the package is not the version of this fs (or is
    gone), naming the fix; None when they agree or the project does not use the package."""
    package = project_package(root)
    if package is None or package.version == version:
        return None
    where = _shown(root, package.path)
    if package.version is None:
        return f"{package.declared_in.name} names the featurestore dbt package at {where}, which is missing: run fs init"
    return (
        f"the project's featurestore dbt package ({where}) is version {package.version}, fs is {version}: "
        "run fs init to update the project's copy, or install the fs of that version"
    )


def missing_packages(root: Path, install_path: str) -> list[str]:
    """The packages the project declares that dbt has not installed (`dbt deps` not run since
    a clone, or since an entry was added): the local ones by name, any others when dbt's
    install folder is empty. dbt parse and build refuse to start without them."""
    _, entries = package_entries(root)
    if not entries:
        return []
    installed = root / install_path
    if not installed.is_dir() or not any(installed.iterdir()):
        return [_entry_name(entry) for entry in entries]
    missing = []
    for entry in entries:
        local = entry.get("local") if isinstance(entry, dict) else None
        if local:
            name = _package_name((root / str(local)).resolve()) or Path(str(local)).name
            if not (installed / name).exists():
                missing.append(name)
    return missing


def _entry_name(entry: object) -> str:
    if isinstance(entry, dict):
        for key in ("local", "package", "git", "tarball", "private"):
            if entry.get(key):
                return str(entry[key])
    return str(entry)


def _shown(root: Path, path: Path) -> str:
    try:
        return str(path.relative_to(root.resolve()))
    except ValueError:
        return str(path)
