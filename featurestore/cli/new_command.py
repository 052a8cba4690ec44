"""`fs new view`: a feature view's YAML from a built model (featurestore.project.scaffold)."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Optional

import typer

from featurestore.cli.options import project_command

if TYPE_CHECKING:
    from featurestore.store import FeatureStore

new_app = typer.Typer(help="Write the YAML of something new: fs new view MODEL ...", no_args_is_help=True)


@project_command(new_app.command("view"))
def new_view(
    store: "FeatureStore",
    model: Annotated[str, typer.Argument(help="The dbt model, built, with no YAML entry yet; the view takes its name.")],
    entity: Annotated[str, typer.Option("--entity", help="What the rows describe (customer, airport...).")],
    join_key: Annotated[
        Optional[list[str]], typer.Option("--join-key", help="A column identifying the entity; repeat for each (default: <entity>_id).")
    ] = None,
    timestamp: Annotated[
        Optional[str], typer.Option("--timestamp", help="When each row's values became true (default: the model's one date/time column).")
    ] = None,
    out: Annotated[Optional[Path], typer.Option("--out", help="The YAML file to write (default: <model>.yml beside the model's SQL).")] = None,
) -> None:
    """Write a feature view's YAML from a built model's columns and types, with the uniqueness test.

    Reads the columns from the warehouse (build the model first), writes the meta, each column
    with its data_type, and featurestore.feature_unique_entity_timestamp. Never overwrites:
    a model with a YAML entry, or an existing file, exits 2.

    Example: fs new view customer_daily --entity customer --join-key customer_id --timestamp as_of
    """
    view = store.new_view(model, entity, join_key or (), timestamp, out)
    store.console.print(view.line(store.project.root))
