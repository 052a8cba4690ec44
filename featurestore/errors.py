"""The one family of errors a user can cause and fix.

Each error carries fields (what was wrong, where, what is valid) and knows the exit code the
CLI returns for it. Anything that is not a `FeatureStoreError` is a bug and keeps its traceback.
"""

from __future__ import annotations

import difflib
from typing import Iterable

# Exit codes, documented for cron in docs/cli.md.
EXIT_FAILURE = 1  # an unexpected failure (a bug); also dbt failing its own build
EXIT_USAGE = 2  # bad options, names or input files
EXIT_PROJECT = 3  # the dbt project or its feature metadata is invalid
EXIT_WAREHOUSE = 4  # the warehouse cannot answer: relation not built, file locked
EXIT_ONLINE = 5  # the online store (Redis) cannot be reached or failed mid-way
EXIT_LOCKED = 6  # another sync holds the project's lock
EXIT_MISMATCH = 7  # verify-online found values that differ from the warehouse
EXIT_CHECK_WARNINGS = 8  # fs check found warnings and no failures
EXIT_CHECK_FAILURES = 9  # fs check found failures
EXIT_DIFF_BREAKING = 10  # fs diff: a feature service breaks against the deployed version
# fs training-set --reproduce: the output differs, put down to (offline/reproduce.py)
EXIT_REPRODUCED_MODEL = 11  # a feature view's model: its checksum or version
EXIT_REPRODUCED_SPINE = 12  # the spine
EXIT_REPRODUCED_DATA = 13  # the warehouse's data (nothing recorded changed)
EXIT_REPRODUCED_ENVIRONMENT = 14  # fs, dbt or the engine's version, or the SQL they generate


def closest(name: str, candidates: Iterable[str], n: int = 3) -> list[str]:
    """Names from `candidates` that look like `name`, best first (for "did you mean").

    Only names nearly as close as the best one are kept, so a typo gets one suggestion.
    """
    scored = sorted(
        ((difflib.SequenceMatcher(None, name, c).ratio(), c) for c in set(candidates)),
        reverse=True,
    )
    scored = [(score, c) for score, c in scored if score >= 0.5]
    if not scored:
        return []
    best = scored[0][0]
    return [c for score, c in scored[:n] if score >= best - 0.05]


def install_extra(extra: str) -> str:
    """How to install fs with one of its extras. fs is not on PyPI: it installs from a clone
    (or a wheel built from one), so the command names the clone's folder."""
    return f"pip install '/path/to/featurestore[{extra}]' (fs installs from a clone: docs/your-project.md)"


def did_you_mean(name: str, candidates: Iterable[str]) -> str:
    candidates = sorted(set(candidates))
    suggestions = closest(name, candidates)
    if suggestions:
        return "did you mean " + " or ".join(f"'{s}'" for s in suggestions) + "?"
    shown = ", ".join(candidates[:12]) + (", ..." if len(candidates) > 12 else "")
    return f"valid: {shown}" if candidates else "none are defined"


def first_line(error: BaseException) -> str:
    """The first line of an exception's message (drivers add context lines the user does not
    need), or its class name when it has none."""
    text = str(error).strip()
    return text.splitlines()[0] if text else type(error).__name__


class FeatureStoreError(Exception):
    """Base of every error the user can fix. `str(error)` is the one line the CLI prints."""

    exit_code = EXIT_FAILURE

    def __init__(self, message: str):
        super().__init__(message)
        self.message = message


class UsageError(FeatureStoreError):
    """A bad option, name or input file on the command line or in an API call."""

    exit_code = EXIT_USAGE


class ProjectError(FeatureStoreError):
    """The dbt project, its profile or the feature store settings cannot be used."""

    exit_code = EXIT_PROJECT


class MetaError(ProjectError):
    """A model's `feature_store` metadata is invalid."""

    def __init__(
        self, model: str, yaml_path: str | None, problem: str, valid: str = "", kind: str = "model"
    ):
        self.model = model
        self.yaml_path = yaml_path
        self.problem = problem
        self.valid = valid
        where = f"{yaml_path or 'unknown file'}: {kind} '{model}'"
        super().__init__(f"{where}: {problem}" + (f" ({valid})" if valid else ""))


class DbtError(FeatureStoreError):
    """dbt itself failed (parse or build); its own log says why."""

    exit_code = EXIT_FAILURE


class DbtProjectError(DbtError):
    """dbt could not use the project (a file it cannot parse, an invalid dbt_project.yml or
    profile): the project is invalid, as when fs finds it so, and dbt's line names the file."""

    exit_code = EXIT_PROJECT


class WarehouseError(FeatureStoreError):
    """The warehouse could not run what was asked: missing relation, locked file, bad SQL.

    Raised by the engine layer (featurestore.engines), which keeps the driver's own error as
    the cause, so `--debug` shows it."""

    exit_code = EXIT_WAREHOUSE


def duckdb_file_locked(path: object, holder: str, pid: str) -> WarehouseError:
    """The one line for a DuckDB file another process holds, whether fs opened it or dbt did
    (DuckDB allows one writing process at a time)."""
    return WarehouseError(
        f"the DuckDB file {path} is locked by {holder} (PID {pid}), "
        "probably a running dbt command; DuckDB allows one writing process at a time: "
        "wait for it to finish and retry"
    )


class RelationNotBuilt(WarehouseError):
    """A table or view that a query reads does not exist in the warehouse."""

    def __init__(self, relation: str, message: str):
        self.relation = relation
        """The relation as the engine named it (qualified or not, as the engine says it)."""
        super().__init__(message)


class ColumnNotFound(WarehouseError):
    """A column that a query reads does not exist in the relation."""

    def __init__(self, column: str, message: str):
        self.column = column
        super().__init__(message)


class ValueNotConverted(WarehouseError):
    """A value the query had to convert to another type (text to a number, to compare a
    spine's key with a view's) that does not convert."""

    def __init__(self, value: str, type_name: str, column: str | None, message: str, kinds: frozenset[str] = frozenset()):
        self.value = value
        self.type_name = type_name
        """The type as the engine names it (INT32, DECIMAL(18,3), DATE)."""
        self.column = column
        """The column the value came from, when the engine says."""
        self.kinds = kinds
        """The kinds (as `Warehouse.column_kinds` reports them) of a column of that type;
        empty when the engine does not say."""
        super().__init__(message)


class ViewNotBuilt(WarehouseError):
    """A feature view's relation is missing, or lacks columns its YAML declares."""

    def __init__(self, view: str, relation: str, missing_columns: Iterable[str] = (), unsure: bool = False):
        self.view = view
        self.relation = relation
        self.missing_columns = tuple(missing_columns)
        build = "run `fs build` (or `dbt build`)"
        if self.missing_columns and unsure:
            # Without the SQL dbt compiled, an old relation and SQL that lacks the column look
            # alike; a build tells them apart (its manifest holds the SQL), so say both.
            message = (
                f"feature view '{view}': {relation} has no column(s) {', '.join(self.missing_columns)} that its YAML "
                f"declares; {build}: if still missing then, the model's SQL does not produce it"
            )
        elif self.missing_columns:
            message = (
                f"feature view '{view}': {relation} has no column(s) {', '.join(self.missing_columns)}; "
                f"the model changed since it was built; {build}"
            )
        else:
            message = f"feature view '{view}' is not built: {relation} does not exist in the warehouse; {build}"
        super().__init__(message)


class OnlineStoreError(FeatureStoreError):
    """Redis could not be reached, or failed during the work."""

    exit_code = EXIT_ONLINE

    def __init__(self, url: str, problem: str, hint: str = ""):
        self.url = url
        self.problem = problem
        self.hint = hint
        super().__init__(problem + (f"; {hint}" if hint else ""))


class SyncLockedError(FeatureStoreError):
    """Another sync of the same project is running."""

    exit_code = EXIT_LOCKED

    def __init__(self, lock_key: str, holder: str, problem: str, hint: str):
        self.lock_key = lock_key
        self.holder = holder
        super().__init__(f"{problem} (lock {lock_key}, held by {holder}); {hint}")


class SyncIncomplete(FeatureStoreError):
    """Some views of a sync failed (each for its own reason, which the summary holds); the
    others were synced. The exit code is that of the first failed view's error.

    One failure is said in its own words; several are listed one line each before this
    error (by the CLI), which then counts them."""

    def __init__(self, failed: dict[str, FeatureStoreError], total: int, summary: object = None):
        self.failed = failed
        self.summary = summary
        """What the sync did, the failed views included (featurestore.online.sync.SyncSummary)."""
        self.exit_code = next(iter(failed.values())).exit_code
        synced = total - len(failed)
        others = f" ({synced} other view{'s were' if synced != 1 else ' was'} synced)" if synced else ""
        if len(failed) == 1:
            message = f"{next(iter(failed.values()))}{others}"
        else:
            message = f"{len(failed)} of {total} views could not be synced, each said above{others}"
        super().__init__(message)


class MismatchError(FeatureStoreError):
    """The online store disagrees with the warehouse."""

    exit_code = EXIT_MISMATCH

    def __init__(self, count: int, views: Iterable[str]):
        self.count = count
        self.views = sorted(set(views))
        super().__init__(
            f"{count} mismatch{'es' if count != 1 else ''} between Redis and the warehouse in "
            f"{', '.join(self.views)}; run fs sync (or fs sync --full) and check again"
        )


class BreakingChange(FeatureStoreError):
    """`fs diff` found a change that breaks a feature service of the deployed version."""

    exit_code = EXIT_DIFF_BREAKING

    def __init__(self, services: Iterable[str], state: str):
        self.services = sorted(set(services))
        self.state = state
        many = len(self.services) != 1
        super().__init__(
            f"feature service{'s' if many else ''} {', '.join(self.services)} break{'' if many else 's'} "
            f"against the deployed manifest {state}; keep the old features beside the new ones, or "
            "deploy with the models that use the service updated"
        )
