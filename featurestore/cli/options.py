"""Options every `fs` command takes, declared once: where the project and its profiles are,
which target, and `--debug`. `@project_command(app, name)` adds them to a command and hands
it a `FeatureStore` built from them, as dbt-core's global flags do."""

from __future__ import annotations

import functools
import inspect
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, Callable, Optional

import typer

from featurestore.errors import UsageError

if TYPE_CHECKING:
    from featurestore.store import FeatureStore

ProjectDir = Annotated[
    Optional[Path],
    typer.Option("--project-dir", help="The dbt project folder (default: the current folder or the nearest one above it)."),
]
ProfilesDir = Annotated[
    Optional[Path],
    typer.Option("--profiles-dir", help="Folder of profiles.yml (default, as dbt: $DBT_PROFILES_DIR, else the project folder, else ~/.dbt)."),
]
TargetName = Annotated[Optional[str], typer.Option("--target", "-t", help="dbt target (default: the profile's target).")]
Debug = Annotated[bool, typer.Option("--debug", help="Show full tracebacks and tool logs.")]

FullNames = Annotated[bool, typer.Option("--full-names", help="Name feature columns view__feature.")]
Json = Annotated[bool, typer.Option("--json", help="Print a machine-readable JSON document.")]
RedisUrl = Annotated[
    Optional[str],
    typer.Option(
        "--redis-url",
        help="Redis URL, or redis+cluster://host:port[,host:port...] for a Redis Cluster (default: "
        "$FS_REDIS_URL, else online.redis_url in feature_store.yml, else a redis-server fs starts "
        "for the project on .fs/redis.sock).",
    ),
]

_SHARED = [
    inspect.Parameter("project_dir", inspect.Parameter.KEYWORD_ONLY, default=None, annotation=ProjectDir),
    inspect.Parameter("profiles_dir", inspect.Parameter.KEYWORD_ONLY, default=None, annotation=ProfilesDir),
    inspect.Parameter("target", inspect.Parameter.KEYWORD_ONLY, default=None, annotation=TargetName),
    inspect.Parameter("debug", inspect.Parameter.KEYWORD_ONLY, default=False, annotation=Debug),
]


def project_command(register: Callable[[Callable], Callable]) -> Callable[[Callable], Callable]:
    """Register a command whose first parameter is `store: FeatureStore`: the command line
    gets the shared options instead, and the store is built from them.

        @project_command(app.command("build"))
        def build(store: FeatureStore, select: ... = None) -> None: ...
    """

    def decorate(command: Callable) -> Callable:
        signature = inspect.signature(command)
        # Annotations are text under `from __future__ import annotations`; typer needs them
        # evaluated, and evaluates none given through __signature__ itself.
        own = [
            p.replace(annotation=eval(p.annotation, command.__globals__) if isinstance(p.annotation, str) else p.annotation)
            for name, p in signature.parameters.items()
            if name != "store"
        ]

        @functools.wraps(command)
        def with_store(**arguments: Any) -> Any:
            shared = {p.name: arguments.pop(p.name) for p in _SHARED}
            # (typer vendors its own click: its Context is recognised by what it has.)
            context = next((v for v in arguments.values() if hasattr(v, "invoked_subcommand")), None)
            if context is not None and context.invoked_subcommand:
                # A group's callback before its subcommand: the subcommand has the options,
                # and one given before it would be lost in silence.
                given = [name for name, value in {**shared, **arguments}.items() if value not in (None, False, context)]
                if given:
                    option = "--" + given[0].replace("_", "-")
                    raise UsageError(
                        f"{option} goes after the subcommand: fs {context.info_name} {context.invoked_subcommand} ... {option}"
                    )
                return None
            return command(make_store(**shared), **arguments)

        with_store.__signature__ = signature.replace(parameters=[*own, *_SHARED])  # type: ignore[attr-defined]
        # typer reads the annotations too: the store is not an option.
        with_store.__annotations__ = {p.name: p.annotation for p in [*own, *_SHARED]}
        return register(with_store)

    return decorate


def make_store(project_dir: Path | None, profiles_dir: Path | None, target: str | None, debug: bool) -> "FeatureStore":
    from featurestore.cli import startup
    from featurestore.console import Console
    from featurestore.store import FeatureStore

    from featurestore.project.package import version_warning

    store = FeatureStore(project_dir, profiles_dir, target, console=Console(debug=debug))
    # Loaded: the command's work is next, with the garbage collector back (cli/startup.py).
    startup.resume()
    # The project's copy of the dbt package and this fs must be one version: the macros and
    # tests the models use are the package's, the SQL fs generates is this fs's.
    mismatch = version_warning(store.project.root)
    if mismatch:
        store.console.warn(mismatch)
    return store
