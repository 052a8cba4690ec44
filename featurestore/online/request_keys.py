"""A read request's join key values, as the keys a sync wrote: each value converted to the
type the view's key is stored as before the key is named.

A sync names an entity's key from the warehouse's typed value (featurestore.online.keys); a
read is given values of any Python type: text from `fs get --entity id=07` or JSON, floats
from a pandas column holding a NaN, numpy scalars. Each is converted to the key's logical
type, as recorded in the schema of the generation read, the way the training set's cast
matches a spine's key to the view's (`'01'`, `' 1'`, `'+1'`, `1.0` are the integer 1); a value
that is no value of the type exactly (`'abc'`, `1.5` for an integer) is refused in one line,
never read as a key that cannot exist (docs/online-store.md, "Reads"). Every read path names
its keys with `request_suffixes`: plain and aggregation views, a single server or a cluster.
Nothing here does I/O.
"""

from __future__ import annotations

import math
import numbers
from datetime import date, datetime, timezone
from decimal import Context, Decimal, InvalidOperation
from functools import lru_cache
from typing import Any, Callable, Mapping, Sequence

from featurestore.errors import UsageError
from featurestore.online.codec import ViewSchema, encode_key_value, encode_key_values, encode_value
from featurestore.online.keys import entity_suffix, escape_key_value


class KeyTypeError(ValueError):
    """A join key value of a read request that is not exactly a value of the key's stored
    type; the reader turns it into a UsageError naming the row, the key and the view. Its
    message, if any, says why in a few words ("it has a fraction")."""


def _is_null(value: Any) -> bool:
    """None, or a NaN (pandas' missing value in a number column, which DuckDB reads as NULL)."""
    try:
        return value is None or bool(value != value)
    except TypeError:  # pandas' NA: its comparisons are NA, whose truth is ambiguous
        return True
    except ValueError:  # an array: no key value, refused as such
        return False


INT_RANGE = (-(2**63), 2**63 - 1)
"""The integers a key of the logical type int can hold: BIGINT's (the recorded schema keeps no
width, so a value past a narrower key's range reads missing). A UBIGINT key, recorded as such
(`int:u64`), holds U64_RANGE."""

U64_RANGE = (0, 2**64 - 1)

EXACT_FLOAT = 2.0**53
"""A float this large or larger is not exact: it stands for many integers."""

MAX_TEXT = 1000
"""The longest number text read: longer than any exact value of a key type, and short enough
that no conversion costs more than microseconds."""


def _number(value: Any) -> Decimal | float:
    """A number the value is exactly: text in ASCII, spaces around it allowed, as DuckDB's cast
    reads it ('01', ' 1', '+1', '1.0', '1e3'); never a boolean, nor a float of 2^53 or more
    (it is exact for no one integer)."""
    if isinstance(value, bool) or _is_numpy_bool(value):
        raise KeyTypeError("a boolean")
    if isinstance(value, str):
        text = value.strip()
        if len(text) > MAX_TEXT:
            raise KeyTypeError("too long")
        try:
            if not text.isascii():  # Decimal would read other scripts' digits
                raise InvalidOperation
            number = Decimal(text)
        except InvalidOperation:
            raise KeyTypeError() from None
        if not number.is_finite():
            raise KeyTypeError("not finite")
        return number
    if isinstance(value, numbers.Real) and not isinstance(value, numbers.Integral):  # a float, numpy's too
        if abs(float(value)) >= EXACT_FLOAT:
            raise KeyTypeError("a float of 2^53 or more is not exact; give it as an integer or as text")
        return value  # type: ignore[return-value]
    if isinstance(value, (numbers.Integral, Decimal)):
        return value  # type: ignore[return-value]
    raise KeyTypeError(f"a {type(value).__name__}")


def _is_numpy_bool(value: Any) -> bool:
    dtype = getattr(value, "dtype", None)
    return dtype is not None and getattr(dtype, "kind", None) == "b" and not hasattr(value, "__len__")


def _int_in_range(number: int, bounds: tuple[int, int] = INT_RANGE) -> int:
    if not bounds[0] <= number <= bounds[1]:
        raise KeyTypeError(f"out of the key's range, {bounds[0]} to {bounds[1]}")
    return number


def _as_int(value: Any, bounds: tuple[int, int] = INT_RANGE) -> int:
    if type(value) is int:
        return _int_in_range(value, bounds)
    if isinstance(value, numbers.Integral) and not isinstance(value, bool) and not _is_numpy_bool(value):
        return _int_in_range(int(value), bounds)
    if type(value) is str and value.isascii() and len(value) <= MAX_TEXT:
        try:  # the common text ('7', '007', ' +7'), 8 times faster than through Decimal
            number = int(value)
        except ValueError:
            pass
        else:
            return _int_in_range(number, bounds)
    number = _number(value)
    if isinstance(number, Decimal):
        if number.adjusted() > 19:  # before int(), which takes seconds for 1e1000000
            raise KeyTypeError(f"out of the key's range, {bounds[0]} to {bounds[1]}")
        integral = number == number.to_integral_value()
    else:
        integral = math.isfinite(number) and float(number).is_integer()
    if not integral:
        raise KeyTypeError("it has a fraction")
    return _int_in_range(int(number), bounds)


def _as_uint64(value: Any) -> int:
    return _as_int(value, U64_RANGE)


def _as_float(value: Any) -> float:
    if type(value) is float:
        return value + 0.0  # -0.0 is the key 0.0, as DuckDB's join matches them
    if isinstance(value, str):  # DuckDB's cast reads 'nan', 'inf' and '1e400' (inf) too
        text = value.strip()
        if not text.isascii() or "_" in text:
            raise KeyTypeError()
        return float(text)
    if isinstance(value, bool) or _is_numpy_bool(value):
        raise KeyTypeError("a boolean")
    if isinstance(value, (numbers.Real, Decimal)):
        return float(value)
    raise KeyTypeError(f"a {type(value).__name__}")


def _as_text(value: Any) -> str:
    # Text as given, never stripped: ' c1' and 'c1' are two keys.
    return value if isinstance(value, str) else encode_value(value)


def _as_bool(value: Any) -> bool:
    if isinstance(value, bool):
        return value
    if _is_numpy_bool(value):
        return bool(value)
    words = {"true": True, "t": True, "1": True, "false": False, "f": False, "0": False}
    if isinstance(value, str) and value.strip().lower() in words:
        return words[value.strip().lower()]
    if isinstance(value, numbers.Integral) and int(value) in (0, 1):
        return bool(value)
    raise KeyTypeError()


def _as_timestamp(value: Any, zoned: bool = False) -> datetime:
    """A plain TIMESTAMP key: text's offset is dropped, as DuckDB's cast of the text to
    TIMESTAMP drops it (`11:00+01:00` is 11:00); a datetime with a zone is its UTC time, as
    pandas hands it to DuckDB. A TIMESTAMPTZ key (`zoned`): any offset is the moment."""
    if isinstance(value, str):
        try:
            value = datetime.fromisoformat(value.strip())
        except ValueError:
            raise KeyTypeError("not ISO-8601") from None
        if value.tzinfo is not None and not zoned:
            value = value.replace(tzinfo=None)
    elif _is_datetime64(value):
        value = _from_datetime64(value)
    if isinstance(value, datetime):
        if getattr(value, "nanosecond", 0):  # a pandas Timestamp: no key has nanoseconds
            raise KeyTypeError("it has nanoseconds; keys hold microseconds")
        if value.tzinfo is not None:  # fs holds timestamps as naive UTC
            value = value.astimezone(timezone.utc).replace(tzinfo=None)
        return value
    if isinstance(value, date):
        return datetime(value.year, value.month, value.day)
    raise KeyTypeError(f"a {type(value).__name__}")


def _as_zoned_timestamp(value: Any) -> datetime:
    return _as_timestamp(value, zoned=True)


def _is_datetime64(value: Any) -> bool:
    return type(value).__name__ == "datetime64"


def _from_datetime64(value: Any) -> datetime:
    import pandas as pd

    return pd.Timestamp(value)


def _as_date(value: Any) -> date:
    if isinstance(value, str):
        text = value.strip()
        try:
            return date.fromisoformat(text)
        except ValueError:
            pass
        try:  # a datetime's text at midnight: DuckDB's cast to DATE gives its date
            value = datetime.fromisoformat(text)
        except ValueError:
            raise KeyTypeError("not ISO-8601") from None
    elif _is_datetime64(value):
        value = _from_datetime64(value)
    if isinstance(value, datetime):
        if value.time() != datetime.min.time() or value.tzinfo is not None or getattr(value, "nanosecond", 0):
            raise KeyTypeError("it has a time of day")
        return value.date()
    if isinstance(value, date):
        return value
    raise KeyTypeError(f"a {type(value).__name__}")


def _as_decimal(value: Any) -> Decimal:
    number = _number(value)
    number = number if isinstance(number, Decimal) else Decimal(str(number))
    if number.adjusted() > 38:  # HUGEINT's 39 digits at most; quantizing 1e99 would raise
        raise KeyTypeError("out of the range of a decimal or HUGEINT key")
    return number


def _as_scaled_decimal(value: Any, key_type: str) -> Decimal:
    """A decimal key of a recorded scale (`decimal:2`): its text has that many decimals, as
    the warehouse's `decimal(9,2)` writes 1.5 as `1.50`."""
    scale = int(key_type.partition(":")[2])
    number = _as_decimal(value)
    scaled = number.quantize(Decimal(1).scaleb(-scale), context=Context(prec=100))  # decimal(38) has 38 digits
    if scaled != number:
        raise KeyTypeError(f"it has more than {scale} decimals")
    return abs(scaled) if scaled == 0 else scaled  # no key is -0.00


KEY_TYPES: dict[str, Callable[[Any], Any]] = {
    "int": _as_int,
    "str": _as_text,
    "float": _as_float,
    "bool": _as_bool,
    "timestamp": _as_timestamp,
    "date": _as_date,
    "decimal": _as_decimal,
    "timestamp:tz": _as_zoned_timestamp,
    "int:u64": _as_uint64,
}
"""Logical type -> how a read request's join key value becomes a value of it (`key_value`)."""

KEY_TYPE_NAMES = {"int": "an integer", "str": "text", "float": "a number", "bool": "a boolean", "timestamp": "a timestamp",
                  "date": "a date", "decimal": "a decimal number"}
"""Logical type -> its name in an error."""

KEY_TYPE_VALID = {
    "int": "whole numbers, as numbers or text such as '7' or '007'",
    "float": "numbers, as numbers or text",
    "bool": "true or false, or the text true, false, t, f, 1 or 0",
    "timestamp": "datetimes, or ISO-8601 text such as '2024-01-31T08:15:00'",
    "date": "dates, or ISO-8601 text such as '2024-01-31'",
    "decimal": "numbers, as numbers or text",
}
"""Logical type -> what a read request may give for a key of it (the valid values of an error)."""


def key_value(value: Any, logical: str) -> Any:
    """A read request's join key `value` as the view's key type, `logical` (as the last sync
    stored it; a decimal's with its scale, `decimal:2`: `ViewSchema.key_types`): what the
    training set's cast of the spine's key gives, where that is exact.
    None for a null (None or NaN). Raises KeyTypeError where the value is no value of the
    type exactly, rather than naming a key that cannot exist.

    >>> [key_value(v, "int") for v in (1, "01", " 1", "+1", 1.0, "1e3")]
    [1, 1, 1, 1, 1, 1000]
    >>> key_value(" 1", "str")  # text is a key as given
    ' 1'
    """
    if _is_null(value):
        return None
    cast = KEY_TYPES.get(logical)
    try:
        return _as_scaled_decimal(value, logical) if cast is None else cast(value)
    except KeyTypeError:
        raise
    except (InvalidOperation, ValueError, OverflowError, TypeError) as error:  # a value no key has
        raise KeyTypeError() from error


def key_text(value: Any, logical: str) -> str | None:
    """`key_value` as the text a sync writes for it in the key (`encode_key_array`); None for a null."""
    kind = type(value)  # the common cases first: a read of 1,000 keys names each
    if kind is str:
        if logical == "str":
            return value
        if logical == "int" and value.isascii() and len(value) < 30:
            try:
                number = int(value)
                if INT_RANGE[0] <= number <= INT_RANGE[1]:
                    return str(number)
            except ValueError:
                pass  # '1.0', '1e3' or no number: key_value says which
    elif kind is int and logical == "int" and INT_RANGE[0] <= value <= INT_RANGE[1]:
        return str(value)
    typed = key_value(value, logical)
    return None if typed is None else encode_key_value(typed)


@lru_cache(maxsize=256)
def key_types(schema_json: str) -> tuple[tuple[str, str], ...]:
    """Each join key of a view's recorded schema, with the type a read converts its values to."""
    return ViewSchema.from_json(schema_json).key_types


def key_logicals(schema_json: str | None) -> tuple[str, ...] | None:
    """The logical types of a view's join keys, in order, from its recorded schema (None: no
    schema known, so keys are named by their values' own types; nothing is read then)."""
    return tuple(logical for _, logical in key_types(schema_json)) if schema_json else None


def request_suffixes(
    view: str, join_keys: Sequence[str], rows: list[dict[str, Any]], logicals: Sequence[str] | None
) -> list[str | None]:
    """The entity key suffix of each row for a view; None where a key value is null (None or NaN).

    Each key value is converted to its key's logical type in `logicals` (the view's recorded
    schema) before it is written as text, so `'01'`, `' 1'` and `1.0` name the key of the
    integer 1, as the training set's cast matches them; a value that is no value of the type
    (`'abc'`, `1.5` for an integer) is a UsageError, never a key that cannot exist. Every
    online read, plain or aggregation view, names its keys here. Without `logicals` (the view
    never synced: nothing is read), each value is written by its own type.
    """
    try:
        if logicals is None:
            if len(join_keys) == 1:
                (key,) = join_keys
                return [None if row[key] is None else f"{key}={escape_key_value(encode_value(row[key]))}" for row in rows]
            return [
                None if any(row[k] is None for k in join_keys) else entity_suffix(join_keys, [row[k] for k in join_keys])
                for row in rows
            ]
        if len(join_keys) == 1:  # the common case, kept fast for reads of many entities
            (key,), (logical,) = join_keys, logicals
            if logical == "float" and len(rows) > 1:  # one vectorized call names them all
                texts = encode_key_values([key_value(row[key], logical) for row in rows])
                return [None if text is None else f"{key}={escape_key_value(text)}" for text in texts]
            return [None if (text := key_text(row[key], logical)) is None else f"{key}={escape_key_value(text)}" for row in rows]
        suffixes: list[str | None] = []
        for row in rows:
            texts = [key_text(row[k], logical) for k, logical in zip(join_keys, logicals)]
            suffixes.append(
                None if None in texts else ":".join(f"{k}={escape_key_value(t)}" for k, t in zip(join_keys, texts))  # type: ignore[arg-type]
            )
        return suffixes
    except KeyError:
        index, row = next((i, row) for i, row in enumerate(rows) if not all(k in row for k in join_keys))
        missing = [k for k in join_keys if k not in row]
        raise UsageError(
            f"entity row {index + 1} ({_shown(row)}) has no {', '.join(repr(k) for k in missing)}, "
            f"which view '{view}' needs (its join keys: {', '.join(join_keys)})"
        ) from None
    except KeyTypeError as error:
        raise _key_refused(view, join_keys, rows, logicals) from error


def _key_refused(view: str, join_keys: Sequence[str], rows: list[dict[str, Any]], logicals: Sequence[str]) -> UsageError:
    """The one line for the first key value of `rows` that is no value of its key's type."""
    for index, row in enumerate(rows):
        for key, logical in zip(join_keys, logicals):
            try:
                key_value(row[key], logical)
            except KeyTypeError as error:
                why, logical = f" ({error})" if str(error) else "", logical.partition(":")[0]
                return UsageError(
                    f"entity row {index + 1} ({_shown(row)}): {key} {row[key]!r} is not {KEY_TYPE_NAMES[logical]}{why}, "
                    f"the type of {key} in view '{view}' (valid: {KEY_TYPE_VALID[logical]})"
                )
    raise AssertionError("no key value was refused")


def _shown(row: Mapping[str, Any]) -> str:
    return ", ".join(f"{k}={v}" for k, v in row.items()) or "empty"
