"""The `fs` command line: a thin layer that parses options and calls one FeatureStore method.

Heavy modules (dbt, database drivers, pyarrow, redis, sqlglot) are imported inside the commands so that
`fs --help` answers at once. Options every command takes are declared once (cli.options).
Errors the user can fix become one line on stderr and the exit code of their class (see
featurestore.errors); anything else is a bug and keeps its traceback.
"""

from __future__ import annotations

import copy
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Optional

import typer

from featurestore.cli import init_command, new_command, training_set_command
from featurestore.cli.options import FullNames, Json, RedisUrl, project_command

if TYPE_CHECKING:
    from featurestore.store import FeatureStore

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
app.command("init")(init_command.init)
app.add_typer(new_command.new_app, name="new")
project_command(app.command("training-set"))(training_set_command.training_set)


@project_command(catalog_app.callback(invoke_without_command=True))
def catalog_list(store: "FeatureStore", ctx: typer.Context, json: Json = False) -> None:
    """List the feature views: entity, keys, features, ttl, owner.

    Example: fs catalog --json
    """
    from featurestore.cli import render_catalog

    render_catalog.show_catalog(store.catalog(), store.console, as_json=json)


@project_command(catalog_app.command("show"))
def catalog_show(
    store: "FeatureStore",
    view: Annotated[str, typer.Argument(help="Name of the feature view (the dbt model) or feature service.")],
    json: Json = False,
) -> None:
    """Everything about one feature view and its features, or one feature service.

    Example: fs catalog show route_daily
    """
    from featurestore.cli import render_catalog

    catalog = store.catalog()
    if view not in catalog.views and view in catalog.services:
        render_catalog.show_service(catalog, catalog.services[view], store.console, as_json=json)
        return
    render_catalog.show_view(store.described_view(view), store.console, as_json=json)


@project_command(catalog_app.command("search"))
def catalog_search(
    store: "FeatureStore",
    text: Annotated[str, typer.Argument(help="Text to look for in names, descriptions, entities, owners and tags.")],
    json: Json = False,
) -> None:
    """Find features by name, description, entity, owner or tag.

    Example: fs catalog search delay
    """
    from featurestore.cli import render_catalog

    render_catalog.show_search(store.catalog().search(text), text, store.console, as_json=json)


@project_command(app.command("build"))
def build(
    store: "FeatureStore",
    select: Annotated[
        Optional[list[str]], typer.Option("--select", "-s", help="dbt node selection; repeatable, as dbt's.")
    ] = None,
) -> None:
    """Run `dbt build` for the project: the feature models and their data tests.

    Example: fs build --select route_daily
    """
    # dbt reads a selection of several space-separated parts as their union.
    store.console.print(store.build(" ".join(select) if select else None).line())


@project_command(app.command("sync"))
def sync(
    store: "FeatureStore",
    full: Annotated[bool, typer.Option("--full", help="Rebuild every view into a fresh keyspace, then switch readers to it.")] = False,
    view: Annotated[Optional[list[str]], typer.Option("--view", help="Sync only this view (repeatable).")] = None,
    wait: Annotated[
        float, typer.Option("--wait", min=0, help="Seconds to wait in line behind pushes holding the project's lock.")
    ] = 30.0,
    redis_url: RedisUrl = None,
    json: Json = False,
) -> None:
    """Copy the latest value of every online feature from the warehouse to Redis.

    Incremental by default: only rows written since the last sync. Exit codes for cron are listed in docs/cli.md.

    Example: fs sync --json
    """
    from featurestore.cli import render_online
    from featurestore.errors import SyncIncomplete

    try:
        summary = store.sync(full=full, views=view, redis_url=redis_url, lock_wait=wait)
    except SyncIncomplete as incomplete:
        render_online.show_sync(incomplete.summary, store.console, as_json=json)
        raise
    render_online.show_sync(summary, store.console, as_json=json)


@project_command(app.command("push"))
def push(
    store: "FeatureStore",
    view: Annotated[str, typer.Argument(help="The online feature view to push to.")],
    file: Annotated[Path, typer.Option("--file", "-f", help="The rows: a .parquet or .csv file with the view's columns.")],
    wait: Annotated[
        float, typer.Option("--wait", min=0, help="Seconds to wait for a running sync of the project.")
    ] = 30.0,
    redis_url: RedisUrl = None,
    json: Json = False,
) -> None:
    """Write rows into an online view now (never older over newer), and keep them for the next dbt build.

    The rows are also appended to the view's landing table <view>__fs_pushed. The file holds the view's join keys, timestamp and every feature; created_at defaults to now. Bad rows exit 2 and write nothing.

    Example: fs push carrier_daily --file late_stats.parquet
    """
    from featurestore.cli import render_online

    summary = store.push(view, file, redis_url=redis_url, lock_wait=wait)
    render_online.show_push(summary, store.console, as_json=json)


@project_command(app.command("get"))
def get(
    store: "FeatureStore",
    features: Annotated[list[str], typer.Argument(help="view:feature, view:*, on-demand group:feature or feature-service names.")],
    entity: Annotated[
        list[str],
        typer.Option("--entity", "-e", help="A join key and its value, key=value; repeat for each key. "
                     "key=v1,v2 asks for several entities at once."),
    ],
    redis_url: RedisUrl = None,
    bare_names: Annotated[
        bool, typer.Option("--bare-names", help="Name features as training sets name their columns (origin__temp_f).")
    ] = False,
    full_names: FullNames = False,
) -> None:
    """Print the online values of features for an entity, as JSON, with a status for each.

    Features are named view:feature unless --bare-names or --full-names.

    Example: fs get weather_hourly:origin__temp_f 'carrier_daily:*' --entity origin=JFK --entity carrier=UA
    """
    from featurestore.cli import render_online

    result = store.get_online_features(
        entity_rows(entity), features, redis_url=redis_url, bare_names=bare_names, full_names=full_names
    )
    # --entity values are text; echoed as the types the views store them as (7, not "7").
    render_online.show_online_features(result.with_typed_keys(), store.console)


def entity_rows(pairs: list[str]) -> list[dict[str, str]]:
    """`["origin=JFK,LGA", "carrier=UA"]` -> one row per value; a single value is shared."""
    from featurestore.errors import UsageError

    columns: dict[str, list[str]] = {}
    for pair in pairs:
        key, sep, value = pair.partition("=")
        if not sep or not key.strip():
            raise UsageError(f"--entity '{pair}' is not key=value (for example --entity carrier=UA)")
        if key.strip() in columns:
            raise UsageError(f"--entity gives '{key.strip()}' twice; list several values as {key.strip()}=a,b")
        columns[key.strip()] = value.split(",")
    count = max(len(values) for values in columns.values())
    uneven = [k for k, values in columns.items() if len(values) not in (1, count)]
    if uneven:
        raise UsageError(f"--entity {uneven[0]} has {len(columns[uneven[0]])} values, others {count}; give each key one value or {count}")
    return [{k: values[i % len(values)] for k, values in columns.items()} for i in range(count)]


@project_command(app.command("serve"))
def serve(
    store: "FeatureStore",
    host: Annotated[str, typer.Option("--host", help="The address to listen on (0.0.0.0 for every interface).")] = "127.0.0.1",
    port: Annotated[int, typer.Option("--port", min=1, max=65535, help="The port (Feast's feature server's by default).")] = 6566,
    workers: Annotated[int, typer.Option("--workers", min=1, help="Worker processes; they share nothing but Redis.")] = 1,
    redis_url: RedisUrl = None,
) -> None:
    """Serve online features over HTTP until Ctrl-C, in Feast's request and response shape.

    POST /get-online-features with {"features": ["view:feature"], "entities": {"key": ["value"]}};
    POST /push with {"push_source_name": "view", "df": {"column": ["value"]}}, as fs push, for clients
    sending the token of FS_SERVE_TOKEN_FILE (or FS_SERVE_TOKEN) as Authorization: Bearer <token>;
    GET /health checks Redis; GET /openapi.json describes them (docs/serving.md).

    Example: fs serve --port 6566 --workers 2
    """
    store.serve(host=host, port=port, workers=workers, redis_url=redis_url)


@project_command(app.command("verify-online"))
def verify_online(
    store: "FeatureStore",
    sample: Annotated[
        Optional[int], typer.Option("--sample", min=1, help="Check this many random entities per view (default: all).")
    ] = None,
    redis_url: RedisUrl = None,
    json: Json = False,
) -> None:
    """Compare Redis with the warehouse's latest values now; list mismatches, exit 7 on any.

    Example: fs verify-online --sample 1000
    """
    from featurestore.cli import render_online

    report = store.verify_online(sample=sample, redis_url=redis_url)
    render_online.show_verify(report, store.console, as_json=json)
    report.raise_if_mismatched()


@project_command(app.command("check"))
def check(
    store: "FeatureStore",
    view: Annotated[Optional[list[str]], typer.Option("--view", help="Check only this view (repeatable).")] = None,
    json: Json = False,
) -> None:
    """Check each feature view's freshness, volume, nulls and drift; record the run in the warehouse.

    One line per finding and a summary; exit 0 when all is ok, 8 for warnings, 9 for failures.

    Example: fs check --view weather_hourly --json
    """
    from featurestore.cli import render_checks

    report = store.check(views=view)
    render_checks.show_check(report, store.console, as_json=json)
    if report.exit_code:
        raise typer.Exit(report.exit_code)


@project_command(app.command("diff"))
def diff(
    store: "FeatureStore",
    state: Annotated[
        Path,
        typer.Option(
            "--state",
            help="The deployed version's manifest: the folder holding its manifest.json (as dbt's --state), or the file.",
        ),
    ],
    json: Json = False,
) -> None:
    """What changed since the deployed version, per feature view and feature service; exit 10 when a service breaks.

    Breaking: a view or feature removed, renamed or retyped, or its entity, keys, timestamp or ttl changed.

    Values may change (reported, exit 0): its SQL or anything upstream. See docs/governance.md.

    Example: fs diff --state prod-target/
    """
    from featurestore.cli import render_diff

    report = store.diff(state)
    render_diff.show_diff(report, store.console, as_json=json)
    report.raise_if_breaking()


@project_command(app.command("docs"))
def docs(
    store: "FeatureStore",
    out: Annotated[
        Optional[Path], typer.Option("--out", help="Folder to write the site to (default: fs-docs/ in dbt's target folder).")
    ] = None,
    dbt: Annotated[
        bool, typer.Option("--dbt", help="Also write dbt's documentation site as one static page, linked from the feature site.")
    ] = False,
    json: Json = False,
) -> None:
    """Write the feature site: a folder of pages that opens from disk, with no server.

    The catalog with search, a page per view and per feature service, fs check history charts.

    Example: fs docs --out site && open site/index.html
    """
    summary = store.docs(out, dbt=dbt)
    if json:
        store.console.json(summary.to_dict())
    else:
        store.console.print(summary.line())


@project_command(app.command("stop"))
def stop(store: "FeatureStore") -> None:
    """Stop the Redis server fs started for the project (.fs/redis.sock); a configured Redis is left alone.

    What it held is gone: the next fs sync starts it again and syncs every view in full.

    Example: fs stop
    """
    stopped = store.stop_online_server()
    if stopped.running:
        store.console.print(f"stopped the project's Redis server (pid {stopped.pid or '?'}) on {stopped.url}")
    else:
        store.console.print(f"the project's Redis server on {stopped.url} is not running")


def show_version(value: bool) -> None:
    if value:
        from importlib.metadata import version
        from platform import python_version

        from featurestore.console import Console

        Console().print(f"fs {version('featurestore')} (dbt-core {version('dbt-core')}, Python {python_version()})")
        raise typer.Exit()


@app.callback()
def options(
    version: Annotated[
        bool, typer.Option("--version", callback=show_version, is_eager=True, help="Print the versions of fs, dbt and Python.")
    ] = False,
) -> None:
    """A warehouse-native feature store for dbt projects."""


def app_for(args: list[str]) -> typer.Typer:
    """The app that runs `args`: when they start with a command's (or group's) name, the app
    with that one alone, else the whole app (`fs`, `fs --help`, `--version`, a misspelt name).
    Typer turns every registered command into a click command before it parses anything,
    inspecting each one's signature: for 15 commands, 8 ms of every `fs` process (a one-row
    `fs training-set` costs 0.4 s in all). What a command parses, prints and answers is its
    own either way (tests/unit/test_cli_startup.py compares every command's help)."""
    name = args[0] if args else None
    commands = [info for info in app.registered_commands if info.name == name]
    groups = [info for info in app.registered_groups if info.name == name]
    if not commands and not groups:
        return app
    one = copy.copy(app)  # the same settings and callback (--version), one command
    one.registered_commands, one.registered_groups = commands, groups
    return one


def main(argv: list[str] | None = None) -> None:
    """Entry point of `fs`; `argv` defaults to the process arguments."""
    from featurestore.errors import FeatureStoreError

    args = sys.argv[1:] if argv is None else argv
    try:
        app_for(args)(args=args, prog_name="fs")
    except FeatureStoreError as error:
        from featurestore.console import Console

        if "--debug" in args:
            import traceback

            # The traceback (and its causes) for whoever debugs; the exit code stays the
            # error's, as scripts and cron act on it.
            traceback.print_exc()
        Console().error(str(error))
        sys.exit(error.exit_code)
