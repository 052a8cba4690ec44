"""Delivering a training set's rows where the request says: a parquet or CSV file, a
warehouse table, or an Arrow table for the caller; and counting rows and values for the
summary without reading the rows back into Python.

Files appear atomically (written beside the destination, then renamed) and tables are
replaced in one transaction, so a failure never leaves half an output behind.
"""

from __future__ import annotations

import contextlib
import fnmatch
import os
import re
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Sequence

from featurestore.catalog import Catalog
from featurestore.engines import local_files
from featurestore.engines.base import Warehouse
from featurestore.errors import UsageError
from featurestore.offline.request import TrainingSetRequest
from featurestore.sql.expressions import PARSE_ERRORS, render, table_of
from featurestore.sql.output import counts_expression, output_table_expression, resolved_table_name
from featurestore.sql.pit import OutputFeature

if TYPE_CHECKING:
    import pyarrow as pa
    from sqlglot import exp


@dataclass(frozen=True)
class Delivered:
    """Where the rows went, and how many rows and non-null values per feature they hold."""

    rows: int
    non_null: dict[str, int]
    output: str | None = None
    table: "pa.Table | None" = None


def deliver(request: TrainingSetRequest, sql: str, outputs: Sequence[OutputFeature], warehouse: Warehouse) -> Delivered:
    """Run the query into the requested output."""
    if request.output_path is not None:
        rows, non_null = _write_file(sql, request.output_path, warehouse)
        return Delivered(rows, non_null, str(request.output_path))
    if request.output_table is not None:
        table = _qualified_table(request.output_table, warehouse)
        warehouse.replace_table(table.sql(dialect=warehouse.dialect), sql)
        rows, non_null = _counts_in_warehouse(table, outputs, warehouse)
        return Delivered(rows, non_null, request.output_table)
    result = warehouse.read_arrow(sql)
    non_null = {o.name: result.num_rows - result[o.name].null_count for o in outputs}
    return Delivered(result.num_rows, non_null, None, result)


def _write_file(sql: str, path: Path, warehouse: Warehouse) -> tuple[int, dict[str, int]]:
    file_format = local_files.FORMAT_OF_SUFFIX[path.suffix.lower()]
    if path.is_dir():
        raise UsageError(f"output file {path} is a folder; give a file name ending .parquet or .csv")
    created = _make_folders(path)
    _remove_dead_partials(path)
    partial = path.with_name(f"{_partial_prefix(path)}{os.getpid()}")
    try:
        # Made here first, so that a folder we may not write in is the file system's one-line
        # refusal, not an engine's error about a hidden file.
        partial.open("wb").close()
        warehouse.export(sql, str(partial), file_format)
        counts = local_files.row_and_value_counts(warehouse.local_files_connection(), partial, file_format)
        os.replace(partial, path)
    except BaseException as error:
        # Nothing left behind, as far as the file system lets us; the first error is the story.
        for remove in (partial.unlink, *(folder.rmdir for folder in created)):
            with contextlib.suppress(OSError):  # a folder another run has written into stays
                remove()
        if isinstance(error, OSError):
            raise _cannot_write(path, error) from error
        raise
    return counts


def _make_folders(path: Path) -> list[Path]:
    """Create the missing folders above `path`; returns those created, deepest first, so a
    failed run can remove them again."""
    missing = []
    folder = path.parent
    while not folder.exists() and folder != folder.parent:
        missing.append(folder)
        folder = folder.parent
    if not folder.is_dir():
        raise UsageError(f"output file {path} cannot be written: {folder} is a file, not a folder")
    for folder in reversed(missing):
        try:
            folder.mkdir(exist_ok=True)
        except OSError as error:
            raise _cannot_write(path, error) from error
    return missing


def _partial_prefix(path: Path) -> str:
    return f".{path.name}.partial-"


def _remove_dead_partials(path: Path) -> None:
    """Remove what killed runs left beside `path` (their partial files, named by their pid).
    A live process's file stays: two runs may write the same output side by side. (A dead
    run's pid taken by another process keeps its file until that process ends: the safe way
    to be wrong.)"""
    prefix = _partial_prefix(path)
    # Tidying up is never a reason to fail this run.
    names: list[str] = []
    with contextlib.suppress(OSError):
        names = [entry.name for entry in path.parent.iterdir() if entry.name.startswith(prefix)]
    for name in names:
        pid = name[len(prefix):]
        if pid.isdigit() and not _process_alive(int(pid)):
            with contextlib.suppress(OSError):
                (path.parent / name).unlink(missing_ok=True)


def _process_alive(pid: int) -> bool:
    if pid <= 0:
        return False
    try:
        os.kill(pid, 0)  # signal 0: asks whether the process exists, sends nothing
    except ProcessLookupError:
        return False
    except PermissionError:  # it exists, and belongs to another user
        return True
    return True


def _cannot_write(path: Path, error: OSError) -> UsageError:
    """One line: which output, why, and the folder at fault when it is not the file's own."""
    at = Path(error.filename) if error.filename else None
    where = f" ({at})" if at is not None and at in path.parents else ""
    return UsageError(f"output file {path} cannot be written: {error.strerror or error}{where}")


def _counts_in_warehouse(
    table: "exp.Table", outputs: Sequence[OutputFeature], warehouse: Warehouse
) -> tuple[int, dict[str, int]]:
    query = counts_expression(table, [o.name for o in outputs])
    row = warehouse.fetch_all(render(query, warehouse.dialect))[0]
    return row[0], {o.name: n for o, n in zip(outputs, row[1:])}


def refuse_spine_as_output(request: TrainingSetRequest) -> None:
    """Refuse an --output file that the spine is read from: the spine file itself, however
    spelt (a relative path, `..`, a link), or a file a --spine-sql query names in a string
    literal (a path or a glob): the training set would replace the rows it was made from.
    A file the query reaches otherwise (through a view, a path it builds) is not seen: the
    query is the user's, and only the engine knows what it reads (docs/training-sets.md)."""
    output, spine = request.output_path, request.spine
    if output is None:
        return
    if spine.path is not None:
        if output.exists() and _same_file(output, spine.path):
            raise UsageError(f"output file {output} is the spine file; write the training set to another file")
        return
    for literal in _STRING_LITERAL.findall(spine.sql or ""):
        named = literal.replace("''", "'")
        if _names_file(named, output):
            raise UsageError(
                f"output file {output} is read by the spine query ('{named}'); write the training set to another file"
            )


_STRING_LITERAL = re.compile(r"'((?:[^']|'')*)'")


def _names_file(text: str, output: Path) -> bool:
    """Whether `text`, read as a path or a glob relative to the working folder (as the engine
    reads a local file), names the file `output`."""
    if not text.strip():
        return False
    named = Path(os.path.expanduser(text))
    named = named if named.is_absolute() else Path.cwd() / named
    if any(c in text for c in "*?["):
        return fnmatch.fnmatchcase(str(output.resolve()), os.path.normpath(named))
    return named.exists() and output.exists() and _same_file(named, output)


def _same_file(a: Path, b: Path) -> bool:
    with contextlib.suppress(OSError):
        return os.path.samefile(a, b)
    return False


def refuse_dbt_tables(request: TrainingSetRequest, catalog: Catalog, warehouse: Warehouse) -> None:
    """Refuse an --output-table that is the table of a dbt model, seed or snapshot (a
    feature view's above all), or of a source: dbt builds or reads those, and replacing one
    would break what reads it, or lose the raw data.
    Names are compared as the warehouse resolves them: an unqualified one in the target's
    schema, unquoted parts in the engine's case; a database part only when the name has one."""
    if request.output_table is None:
        return
    wanted = resolved_table_name(_qualified_table(request.output_table, warehouse), warehouse.dialect)
    owned = [(name, relation, "builds") for name, relation in sorted(catalog.relations.items())]
    owned += [(name, relation, "reads") for name, relation in sorted(catalog.sources.items())]
    for name, relation, verb in owned:
        theirs = resolved_table_name(table_of(relation), warehouse.dialect)
        if wanted[1:] == theirs[1:] and wanted[0] in (None, theirs[0]):
            kind = "dbt source" if verb == "reads" else "feature view" if name in catalog.views else "dbt model"
            raise UsageError(
                f"--output-table {request.output_table} is the table of {kind} '{name}' ({relation}), which dbt "
                f"{verb}; give the training set a table of its own"
            )


def _qualified_table(name: str, warehouse: Warehouse) -> "exp.Table":
    try:
        return output_table_expression(name, warehouse.target.schema, warehouse.dialect)
    except PARSE_ERRORS as error:
        raise UsageError(f"--output-table '{name}' is not a table name (valid: name or schema.name)") from error
