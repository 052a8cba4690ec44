"""How online values are written as text and read back, and the schema recorded per view.

Values are readable text (a user with redis-cli can see what is stored), decoded by the
logical type recorded in the view's schema: see docs/online-store.md. Nothing here does I/O,
so it is unit-tested without Redis.
"""

from __future__ import annotations

import json
import math
import numbers
from dataclasses import dataclass
from datetime import date, datetime, timezone
from decimal import Context, Decimal, InvalidOperation
from typing import TYPE_CHECKING, Any, Callable, Iterable, Mapping

from featurestore.errors import ProjectError

if TYPE_CHECKING:
    import pyarrow as pa

    from featurestore.catalog import FeatureView


DECODERS: dict[str, Callable[[str], Any]] = {
    "int": int,
    "float": float,
    "bool": lambda text: text == "true",
    "str": str,
    "timestamp": datetime.fromisoformat,
    "date": date.fromisoformat,
    "decimal": Decimal,
}
"""Logical type -> how its text is read back; the logical types are the keys."""


def logical_type(arrow_type: "pa.DataType") -> str | None:
    """The logical type an Arrow type is stored as, or None when it cannot be stored."""
    import pyarrow.types as t

    checks = [
        (t.is_boolean, "bool"),
        (t.is_integer, "int"),
        (t.is_floating, "float"),
        (t.is_decimal, "decimal"),
        (lambda x: t.is_string(x) or t.is_large_string(x) or t.is_string_view(x), "str"),
        (t.is_timestamp, "timestamp"),
        (t.is_date, "date"),
    ]
    return next((name for check, name in checks if check(arrow_type)), None)


def encode_array(array: "pa.Array", logical: str) -> "pa.Array":
    """Every value of `array` as text (nulls stay null), vectorized.

    ints in decimal, floats in the shortest text that reads back as the same double (`1.0`,
    `0.1`, `1e-07` may be spelt `1e-7`), bools `true`/`false`, timestamps ISO-8601 with
    microseconds, dates ISO-8601, decimals as written, strings unchanged.
    """
    import pyarrow as pa
    import pyarrow.compute as pc

    if logical == "timestamp":
        # Always with microseconds, so that every timestamp of a view has the same width and
        # text order is time order (the write script compares them as text). Arrow's cast
        # writes `2024-01-01 00:00:00.000000`, 35 times faster than its strftime; only the
        # separator differs from ISO-8601's.
        text = array.cast(pa.timestamp("us"), safe=False).cast(pa.string())
        return pc.replace_substring(text, " ", "T", max_replacements=1)
    if logical == "float":
        text = array.cast(pa.float64()).cast(pa.string())
        # Arrow writes 1.0 as "1"; add ".0" so a float never reads as an int in redis-cli.
        integral = pc.match_substring_regex(text, r"^-?[0-9]+$")
        return pc.if_else(integral, pc.binary_join_element_wise(text, ".0", ""), text)
    return array.cast(pa.string())


def encode_value(value: Any) -> str:
    """One Python value as text, the way `encode_array` writes it (for keys and tests)."""
    if type(value) is str:  # the common cases first: keys are mostly text or ints
        return value
    if type(value) is int:
        return str(value)
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, numbers.Integral):
        return str(int(value))
    if isinstance(value, float):
        return repr(value)
    if isinstance(value, datetime):
        if value.tzinfo is not None:
            value = value.astimezone(timezone.utc).replace(tzinfo=None)
        return value.isoformat(timespec="microseconds")
    if isinstance(value, date):
        return value.isoformat()
    return str(value)


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


def _number(value: Any) -> Decimal | float:
    """A number the value is exactly: text in ASCII, spaces around it allowed, as DuckDB's cast
    reads it ('01', ' 1', '+1', '1.0', '1e3'); never a boolean."""
    if isinstance(value, bool):
        raise KeyTypeError("a boolean")
    if isinstance(value, str):
        text = value.strip()
        try:
            if not text.isascii():  # Decimal would read other scripts' digits
                raise InvalidOperation
            number = Decimal(text)
        except InvalidOperation:
            raise KeyTypeError() from None
        if not number.is_finite():
            raise KeyTypeError("not finite")
        return number
    if isinstance(value, (numbers.Real, Decimal)):
        return value  # type: ignore[return-value]
    raise KeyTypeError(f"a {type(value).__name__}")


def _as_int(value: Any) -> int:
    if type(value) is int:
        return value
    if isinstance(value, numbers.Integral) and not isinstance(value, bool):
        return int(value)
    if type(value) is str and value.isascii():
        try:  # the common text ('7', '007', ' +7'), 8 times faster than through Decimal
            return int(value)
        except ValueError:
            pass
    number = _number(value)
    if isinstance(number, Decimal):
        integral = number == number.to_integral_value()
    else:
        integral = math.isfinite(number) and float(number).is_integer()
    if not integral:
        raise KeyTypeError("it has a fraction")
    return int(number)


def _as_float(value: Any) -> float:
    if type(value) is float:
        return value
    return float(_number(value))


def _as_text(value: Any) -> str:
    # Text as given, never stripped: ' c1' and 'c1' are two keys.
    return value if isinstance(value, str) else encode_value(value)


def _as_bool(value: Any) -> bool:
    if isinstance(value, bool):
        return value
    words = {"true": True, "t": True, "1": True, "false": False, "f": False, "0": False}
    if isinstance(value, str) and value.strip().lower() in words:
        return words[value.strip().lower()]
    if isinstance(value, numbers.Integral) and int(value) in (0, 1):
        return bool(value)
    raise KeyTypeError()


def _as_timestamp(value: Any) -> datetime:
    if isinstance(value, str):
        try:
            value = datetime.fromisoformat(value.strip())
        except ValueError:
            raise KeyTypeError("not ISO-8601") from None
    if isinstance(value, datetime):
        if value.tzinfo is not None:  # fs holds timestamps as naive UTC
            value = value.astimezone(timezone.utc).replace(tzinfo=None)
        return value
    if isinstance(value, date):
        return datetime(value.year, value.month, value.day)
    raise KeyTypeError(f"a {type(value).__name__}")


def _as_date(value: Any) -> date:
    if isinstance(value, str):
        try:
            return date.fromisoformat(value.strip())
        except ValueError:
            raise KeyTypeError("not ISO-8601") from None
    if isinstance(value, datetime):
        if value.time() != datetime.min.time() or value.tzinfo is not None:
            raise KeyTypeError("it has a time of day")
        return value.date()
    if isinstance(value, date):
        return value
    raise KeyTypeError(f"a {type(value).__name__}")


def _as_decimal(value: Any) -> Decimal:
    number = _number(value)
    return number if isinstance(number, Decimal) else Decimal(str(number))


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
}
"""Logical type -> how a read request's join key value becomes a value of it (`key_value`)."""

KEY_TYPE_NAMES = {"int": "integer", "str": "text", "float": "number", "bool": "boolean", "timestamp": "timestamp",
                  "date": "date", "decimal": "decimal number"}
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
    return _as_scaled_decimal(value, logical) if cast is None else cast(value)


def key_text(value: Any, logical: str) -> str | None:
    """`key_value` as the text a sync writes for it in the key (`encode_array`); None for a null."""
    kind = type(value)  # the common cases first: a read of 1,000 keys names each
    if kind is str:
        if logical == "str":
            return value
        if logical == "int" and value.isascii():
            try:
                return str(int(value))
            except ValueError:
                pass  # '1.0', '1e3' or no number: key_value says which
    elif kind is int and logical == "int":
        return str(value)
    typed = key_value(value, logical)
    return None if typed is None else encode_value(typed)


@dataclass(frozen=True)
class ViewSchema:
    """What a view's hashes hold: the key columns, the timestamp fields, each feature's type.

    Recorded in the view's meta hash as JSON; readers decode with it, and a sync that finds
    it changed rebuilds the view in full.
    """

    join_keys: tuple[tuple[str, str], ...]
    timestamp: str
    created_at: str | None
    features: tuple[tuple[str, str], ...]
    key_scales: tuple[tuple[str, int], ...] = ()
    """The scale of each decimal join key: its key text has as many decimals (`1.50`), so a
    read names the key of 1.5 as a sync wrote it. Recorded only where a view has one."""

    @property
    def feature_names(self) -> tuple[str, ...]:
        return tuple(name for name, _ in self.features)

    @property
    def key_types(self) -> tuple[tuple[str, str], ...]:
        """Each join key with the type a read converts its values to (`key_value`): its
        logical type, a decimal's with its scale (`decimal:2`)."""
        scales = dict(self.key_scales)
        return tuple((key, f"{logical}:{scales[key]}" if key in scales else logical) for key, logical in self.join_keys)

    def to_json(self) -> str:
        data: dict[str, Any] = {
            "join_keys": dict(self.join_keys),
            "timestamp": self.timestamp,
            "created_at": self.created_at,
            "features": dict(self.features),
        }
        if self.key_scales:  # absent otherwise: the schema of every other view is unchanged
            data["key_scales"] = dict(self.key_scales)
        return json.dumps(data)

    @classmethod
    def from_json(cls, text: str) -> "ViewSchema":
        data = json.loads(text)
        return cls(
            join_keys=tuple(data["join_keys"].items()),
            timestamp=data["timestamp"],
            created_at=data["created_at"],
            features=tuple(data["features"].items()),
            key_scales=tuple(data.get("key_scales", {}).items()),
        )

    @classmethod
    def of_view(cls, view: "FeatureView", types: Mapping[str, "pa.DataType"]) -> "ViewSchema":
        """The schema of `view`, given the Arrow type of each of its columns in the warehouse."""

        def stored(column: str, allowed: Iterable[str] | None = None) -> str:
            logical = logical_type(types[column])
            if logical is None or (allowed is not None and logical not in allowed):
                valid = ", ".join(allowed) if allowed else "a number, text, boolean, date or timestamp"
                raise ProjectError(
                    f"{view.yaml_path}: model '{view.name}': column '{column}' has type "
                    f"{types[column]}, which the online store cannot hold (valid: {valid}); "
                    "cast it in the model, or set online: false"
                )
            return logical

        for column in (view.timestamp, view.created_at):
            if column:
                stored(column, allowed=("timestamp", "date"))
        join_keys = tuple((k, stored(k)) for k in view.join_keys)
        return cls(
            join_keys=join_keys,
            timestamp=view.timestamp,
            created_at=view.created_at,
            features=tuple((f, stored(f)) for f in view.feature_names),
            key_scales=tuple((k, types[k].scale) for k, logical in join_keys if logical == "decimal"),  # type: ignore[attr-defined]
        )
