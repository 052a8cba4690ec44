"""`fs training-set`: its options, and which of its four outcomes they ask for (rows written,
the query printed, a dbt model generated, a record reproduced)."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Optional

import typer

from featurestore.cli.options import FullNames, Json
from featurestore.engines.registry import dialects
from featurestore.offline.request import AS_OF_MODES, DEFAULT_TIMESTAMP_COLUMN, KNOWLEDGE

if TYPE_CHECKING:
    from featurestore.store import FeatureStore


def training_set(
    store: "FeatureStore",
    features: Annotated[
        Optional[list[str]],
        typer.Option(
            "--features", "-f",
            help="Comma-separated view:feature, view:*, on-demand group:feature or feature-service names; repeatable.",
        ),
    ] = None,
    spine: Annotated[
        Optional[str],
        typer.Option("--spine", help="The spine: a .parquet/.csv file, or a dbt model or relation name."),
    ] = None,
    spine_sql: Annotated[Optional[str], typer.Option("--spine-sql", help="The spine as a SQL query.")] = None,
    timestamp_column: Annotated[
        str, typer.Option("--timestamp-column", help="The spine column holding each row's point in time.")
    ] = DEFAULT_TIMESTAMP_COLUMN,
    output: Annotated[Optional[Path], typer.Option("--output", "-o", help="Write the rows to this .parquet or .csv file.")] = None,
    output_table: Annotated[
        Optional[str], typer.Option("--output-table", help="Create (or replace) this warehouse table with the rows.")
    ] = None,
    full_names: FullNames = False,
    as_of: Annotated[
        str,
        typer.Option("--as-of", help=f"{' or '.join(AS_OF_MODES)}: honour created_at (no leakage), or ignore it."),
    ] = KNOWLEDGE,
    sql: Annotated[bool, typer.Option("--sql", help="Print the query instead of running it.")] = False,
    as_model: Annotated[
        Optional[str],
        typer.Option("--as-model", help="Write it as a dbt model instead (models/training/NAME.sql, with its YAML)."),
    ] = None,
    dialect: Annotated[
        Optional[str],
        typer.Option(
            "--dialect",
            help=f"With --sql: render for this engine ({', '.join(dialects())}). Table names (database, "
            "schema) come from --target, spelt as that engine stores dbt's tables: use a target on that "
            "warehouse for its names.",
        ),
    ] = None,
    reproduce: Annotated[
        Optional[str],
        typer.Option(
            "--reproduce",
            help="Run the training set a record (<output>.record.json, or table:T for --output-table T, whose "
            "record is in the warehouse as T__fs_record) describes again and say what changed; "
            "exit 0 identical, 11 a model, 12 the spine, 13 the data, 14 fs/dbt/engine.",
        ),
    ] = None,
    json: Json = False,
) -> None:
    """Join features to a spine of labelled events, point-in-time correct; write its record beside the output.

    Example: fs training-set --spine flight_delay_labels --features flight_delay_model -o train.parquet

    As a dbt model: ... --as-model models/training/flight_delay_train.sql
    """
    from featurestore.errors import UsageError

    if reproduce is not None:
        from featurestore.cli.render_records import show_reproduction

        show_reproduction(store.reproduce_training_set(reproduce), store.console, as_json=json)
        return
    if not features:
        raise UsageError("give the features: --features view:feature,... (or --reproduce RECORD)")
    # Repeated --features accumulate, as every option taking a list does.
    names = [name.strip() for given in features or () for name in given.split(",") if name.strip()]
    options = dict(spine_sql=spine_sql, timestamp_column=timestamp_column, full_names=full_names, as_of=as_of)
    if as_model is not None and (sql or output is not None or output_table is not None or spine_sql is not None):
        raise UsageError("--as-model writes a dbt model over the --spine model: not with --sql, --output, --output-table or --spine-sql")
    if as_model is not None:
        generated = store.training_set_model(spine, names, as_model, **options)
        if json:
            store.console.json(generated.to_dict())
        else:
            store.console.print(generated.line())
        return
    if sql:
        store.console.print(store.training_set_sql(spine, names, dialect=dialect, **options))
        return
    if dialect:
        raise UsageError("--dialect goes with --sql; a training set runs on the target's warehouse")
    if output is None and output_table is None:
        raise UsageError("say where the rows go: --output FILE (.parquet/.csv), --output-table NAME, or --sql")
    result = store.training_set(spine, names, output=output, output_table=output_table, **options)
    if json:
        store.console.json(result.summary.to_dict())
    else:
        store.console.print(result.summary.line())
