"""`fs init`: set up an existing dbt project for the feature store (featurestore.project.init)."""

from __future__ import annotations

from pathlib import Path
from typing import Optional

from featurestore.cli.options import Debug, ProfilesDir, ProjectDir, TargetName


def init(
    project_dir: ProjectDir = None,
    profiles_dir: ProfilesDir = None,
    target: TargetName = None,
    debug: Debug = False,
) -> None:
    """Set up an existing dbt project: the featurestore dbt package, feature_store.yml, .gitignore.

    Copies the dbt package fs ships into fs_packages/featurestore (commit it), adds it to
    packages.yml and runs dbt deps, writes a commented feature_store.yml, adds .fs/ to
    .gitignore, and names what to install for the profile's adapter. Running it again changes
    nothing; after upgrading fs it updates the package's copy. See docs/your-project.md.

    Example: cd my_dbt_project && fs init
    """
    from featurestore.cli import startup
    from featurestore.console import Console
    from featurestore.engines.registry import install_advice
    from featurestore.errors import FeatureStoreError
    from featurestore.project.dbt_project import Project, find_project_root, load_project
    from featurestore.project.init import init_project
    from featurestore.project.profiles import load_target
    from featurestore.project.settings import Settings

    startup.resume()  # no FeatureStore here: init's work starts now (cli/startup.py)
    console = Console(debug=debug)
    root = find_project_root(Path(project_dir) if project_dir else Path.cwd())
    try:
        project = load_project(root, profiles_dir)
        advice: Optional[str] = install_advice(load_target(project, target).adapter)
    except FeatureStoreError as error:
        # The package and files need no profile: set them up, and say what fs could not read.
        from featurestore.project.files import read_yaml

        config = read_yaml(root / "dbt_project.yml")
        project = Project(root, str(config.get("name") or root.name), "", root / "target", root, Settings(), config)
        advice, target = None, None
        console.warn(f"the adapter is unknown, so fs cannot say what to install for it: {error}")
    report = init_project(project, console, target)
    for step in report.steps:
        console.print(("changed: " if step.changed else "ok: ") + step.line)
    if advice:
        console.print(advice)
    if not report.changed:
        console.print(f"nothing to change: {root} is set up for fs")
    console.print(
        "next:\n"
        "  dbt build                                   # build the models (the package's tests are there to use)\n"
        "  fs new view MODEL --entity NAME --join-key COLUMN --timestamp COLUMN\n"
        "                                              # a feature view's YAML from a built model\n"
        "  dbt build --select MODEL                    # its tests, the uniqueness test among them\n"
        "  fs catalog                                  # the feature views fs sees"
    )
