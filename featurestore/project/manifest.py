"""Loading dbt's target/manifest.json, refreshing it with `dbt parse` when it is stale.

Stale means missing, or made from other inputs than the project's now: another target, a
project file added, deleted or changed, another dbt, other vars (featurestore.project.freshness).
Every dbt command fs runs that writes the manifest goes through `run_dbt_writing_manifest`,
which records what it was made from.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Callable

from featurestore.console import Console
from featurestore.errors import ProjectError
from featurestore.project import freshness, partial_parse
from featurestore.project.dbt_project import Project
from featurestore.project.profiles import Target


def load_manifest(project: Project, target: Target, console: Console) -> dict:
    reason, key = freshness.stale_reason(project, target)
    if reason:
        console.info(f"{reason}: running dbt parse")
        run_dbt_writing_manifest(project, ["parse"], target, console, key=key)
    return _read(project.manifest_path)


def run_dbt_writing_manifest(
    project: Project,
    command: list[str],
    target: Target,
    console: Console,
    stream: bool = False,
    key: freshness.ManifestKey | None = None,
) -> None:
    """Run dbt parse or build for `target` and record the inputs the manifest it writes was
    made from. The key is taken before dbt reads the files: one edited during the run then
    differs from the record, and the next command parses again."""
    from featurestore.project.dbt_runner import run_dbt

    key = _install_packages(project, target, console, key)
    freshness.forget(project)
    run_dbt(project, [*command, *_parse_flags(project, console)], target.name, console, stream=stream)
    freshness.record(project, key)


def run_dbt_on_checked_manifest(
    project: Project,
    command: list[str],
    target: Target,
    console: Console,
    check: Callable[[dict], None],
    stream: bool = False,
) -> None:
    """`check(manifest)`, then `dbt <command>` (a build) when it passes: with the manifest on
    disk when it is fresh; else parsed first, checked, and the command run on it by the same
    dbt process (dbt_runner.run_dbt_after_parse), where a `dbt parse` and then the command
    would each pay dbt's start and the command parse again. Nothing is run when `check`
    raises."""
    from featurestore.project.dbt_runner import run_dbt_after_parse

    reason, key = freshness.stale_reason(project, target)
    if not reason:
        check(_read(project.manifest_path))
        run_dbt_writing_manifest(project, command, target, console, stream=stream)
        return
    console.info(f"{reason}: running dbt parse")
    key = _install_packages(project, target, console, key)
    freshness.forget(project)

    def parsed() -> None:
        freshness.record(project, key)  # the manifest stays, and is fresh, when check refuses it
        check(_read(project.manifest_path))

    run_dbt_after_parse(project, command, target.name, console, parsed, stream=stream, parse_flags=_parse_flags(project, console))
    freshness.record(project, key)  # the command wrote the same manifest again


def _parse_flags(project: Project, console: Console) -> list[str]:
    """dbt's flags for the parse of the command about to run: without partial parsing when
    dbt's saved state would miss a changed file (featurestore.project.partial_parse)."""
    unseen = partial_parse.unseen_change(project)
    if unseen is None:
        return []
    console.info(
        f"{unseen} has the modification time dbt's partial parse saved for other contents: "
        f"dbt parses every file again (without partial parsing)"
    )
    return [partial_parse.FLAG]


def _install_packages(
    project: Project, target: Target, console: Console, key: freshness.ManifestKey | None
) -> freshness.ManifestKey:
    """`dbt deps` when a declared package is not installed; the manifest key for what dbt
    will read then (`key` when nothing was installed)."""
    from featurestore.project.dbt_runner import run_dbt
    from featurestore.project.package import missing_packages

    # dbt parse and build stop at once when a declared package is not installed (a fresh
    # clone: dbt_packages/ is not committed); a local package installs offline, in a second.
    missing = missing_packages(project.root, project.config.get("packages-install-path", "dbt_packages"))
    if missing:
        console.info(f"dbt packages not installed ({', '.join(missing)}): running dbt deps")
        run_dbt(project, ["deps"], target.name, console)
        key = None  # the installed packages are inputs too: the key taken before is stale
    return key or freshness.current_key(project, target)


def record_manifest(project: Project, target: Target) -> None:
    """Record the manifest on disk as made from the project as it is now, for `target`: for
    a manifest written by other means than dbt (tests, tools that write one themselves)."""
    freshness.record(project, freshness.current_key(project, target))


def _read(path: Path) -> dict:
    try:
        return json.loads(path.read_text())
    except (OSError, json.JSONDecodeError) as error:
        raise ProjectError(f"cannot read {path}: {error}") from error
