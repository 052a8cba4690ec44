"""Tables sent column-wise as JSON sends them (a name -> a list of values, one per row): the
entities of a read request, the rows of a push. Checked here for shape only; what the values
must be is the reader's or the push's to say."""

from __future__ import annotations

from typing import Any, Mapping

from featurestore.errors import UsageError


def check_columns(columns: Mapping[str, Any], where: str, column: str, row: str) -> None:
    """Raise UsageError, in `where`'s words (a `column` holds one value per `row`), unless
    every column is a list of values and all are as long.

    >>> check_columns({"id": [1, 2], "day": [3]}, "entities", "key", "entity")
    Traceback (most recent call last):
    featurestore.errors.UsageError: entities: every key needs one value per entity, but id has 2, day has 1
    """
    bad = next((name for name, values in columns.items() if not isinstance(values, (list, tuple))), None)
    if bad is not None:
        raise UsageError(f'{where}: "{bad}" must be a list of values, one per {row}')
    # A key or a field is one value: an object or a list in its place is the caller's mistake,
    # not a key that happens to be missing.
    for name, values in columns.items():
        row_index = next((i for i, value in enumerate(values) if isinstance(value, (dict, list))), None)
        if row_index is not None:
            kind = "an object" if isinstance(values[row_index], dict) else "a list"
            raise UsageError(f'{where}: "{name}" holds {kind} at row {row_index}; valid: a number, text, true/false or null')
    lengths = {name: len(values) for name, values in columns.items()}
    if len(set(lengths.values())) > 1:
        shown = ", ".join(f"{name} has {n}" for name, n in lengths.items())
        raise UsageError(f"{where}: every {column} needs one value per {row}, but {shown}")
