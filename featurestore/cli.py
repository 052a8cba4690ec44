"""The `fs` command line: a thin layer that parses options and calls one FeatureStore method.

Heavy modules (dbt, DuckDB, pyarrow, redis) are imported inside the commands so that
`fs --help` answers at once. Errors the user can fix become one line on stderr and the
exit code of their class (see featurestore.errors); anything else is a bug and keeps its
traceback.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Optional

import typer

if TYPE_CHECKING:
    from featurestore.context import FeatureStore

app = typer.Typer(
    name="fs",
    help="A warehouse-native feature store for dbt projects.\n\n"
    "Example: fs catalog   (run inside the dbt project)",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=False,
)
catalog_app = typer.Typer(help="Browse the feature catalog built from dbt's manifest.")
app.add_typer(catalog_app, name="catalog")

ProjectDir = Annotated[
    Optional[Path],
    typer.Option("--project-dir", help="The dbt project folder [default: the current folder or the nearest one above it]."),
]
ProfilesDir = Annotated[
    Optional[Path],
    typer.Option("--profiles-dir", help="Folder of profiles.yml [default: $DBT_PROFILES_DIR, else the project's profiles/]."),
]
TargetName = Annotated[
    Optional[str], typer.Option("--target", "-t", help="dbt target [default: the profile's target].")
]
Json = Annotated[bool, typer.Option("--json", help="Print a machine-readable JSON document.")]
Debug = Annotated[bool, typer.Option("--debug", help="Show full tracebacks and tool logs.")]


def _store(project_dir: Path | None, profiles_dir: Path | None, target: str | None, debug: bool) -> "FeatureStore":
    from featurestore.console import Console
    from featurestore.context import FeatureStore

    return FeatureStore(project_dir, profiles_dir, target, console=Console(debug=debug))


@catalog_app.callback(invoke_without_command=True)
def catalog_list(
    ctx: typer.Context,
    json: Json = False,
    project_dir: ProjectDir = None,
    profiles_dir: ProfilesDir = None,
    target: TargetName = None,
    debug: Debug = False,
) -> None:
    """List the feature views: entity, keys, features, ttl, owner.

    Example: fs catalog --json
    """
    if ctx.invoked_subcommand:
        return
    from featurestore import catalog_view

    store = _store(project_dir, profiles_dir, target, debug)
    catalog_view.show_catalog(store.catalog(), store.console, as_json=json)


@catalog_app.command("show")
def catalog_show(
    view: Annotated[str, typer.Argument(help="Name of the feature view (the dbt model).")],
    json: Json = False,
    project_dir: ProjectDir = None,
    profiles_dir: ProfilesDir = None,
    target: TargetName = None,
    debug: Debug = False,
) -> None:
    """Everything about one feature view and its features.

    Example: fs catalog show route_daily
    """
    from featurestore import catalog_view

    store = _store(project_dir, profiles_dir, target, debug)
    catalog_view.show_view(store.catalog().view(view), store.console, as_json=json)


@catalog_app.command("search")
def catalog_search(
    text: Annotated[str, typer.Argument(help="Text to look for in names, descriptions, owners and tags.")],
    json: Json = False,
    project_dir: ProjectDir = None,
    profiles_dir: ProfilesDir = None,
    target: TargetName = None,
    debug: Debug = False,
) -> None:
    """Find features by name, description, entity, owner or tag.

    Example: fs catalog search delay
    """
    from featurestore import catalog_view

    store = _store(project_dir, profiles_dir, target, debug)
    catalog_view.show_search(store.catalog().search(text), text, store.console, as_json=json)


@app.command("build")
def build(
    select: Annotated[Optional[str], typer.Option("--select", "-s", help="dbt node selection.")] = None,
    project_dir: ProjectDir = None,
    profiles_dir: ProfilesDir = None,
    target: TargetName = None,
    debug: Debug = False,
) -> None:
    """Run `dbt build` for the project: the feature models and their data tests.

    Example: fs build --select route_daily
    """
    _store(project_dir, profiles_dir, target, debug).build(select)


def main(argv: list[str] | None = None) -> None:
    """Entry point of `fs`; `argv` defaults to the process arguments."""
    from featurestore.errors import FeatureStoreError

    args = sys.argv[1:] if argv is None else argv
    try:
        app(args=args, prog_name="fs")
    except FeatureStoreError as error:
        if "--debug" in args:
            raise
        from featurestore.console import Console

        Console().error(str(error))
        sys.exit(error.exit_code)


if __name__ == "__main__":
    main()
