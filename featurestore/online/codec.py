"""How online values are written as text and read back, and the schema recorded per view.

Values are readable text (a user with redis-cli can see what is stored), decoded by the
logical type recorded in the view's schema: see docs/online-store.md. Nothing here does I/O,
so it is unit-tested without Redis.
"""

from __future__ import annotations

import json
import numbers
from dataclasses import dataclass, replace
from datetime import date, datetime, timezone
from decimal import Decimal
from functools import lru_cache
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


def encode_key_array(array: "pa.Array", logical: str) -> "pa.Array":
    """Every value of a join key column as the text of its key part: `encode_array`'s, with a
    double's -0.0 written as 0.0, since DuckDB's join matches them as one key. The one function
    that names a key's value, for the sync (vectorized) and for reads and pushes (one value:
    `encode_key_value`), so the two can never spell a value differently."""
    if logical == "float":
        import pyarrow as pa
        import pyarrow.compute as pc

        array = pc.add(array.cast(pa.float64()), 0.0)  # -0.0 + 0.0 is 0.0
    return encode_array(array, logical)


def encode_key_value(value: Any) -> str:
    """One join key value of a Python type as `encode_key_array` writes it in a key."""
    if isinstance(value, float):
        return _float_key_text(float(value) + 0.0)
    return encode_value(value)


@lru_cache(maxsize=4096)
def _float_key_text(value: float) -> str:
    # Through Arrow itself, the sync's writer: Python's repr spells 14% of doubles otherwise
    # (3e10 is `3e+10` there, `30000000000.0` in repr). Cached: the call costs some 70 µs.
    import pyarrow as pa

    return encode_key_array(pa.array([value], pa.float64()), "float")[0].as_py()


def encode_key_values(values: "list[float | None]") -> "list[str | None]":
    """`encode_key_value` of many doubles (None stays None) in one vectorized call."""
    import pyarrow as pa

    return encode_key_array(pa.array(values, pa.float64()), "float").to_pylist()


def encode_value(value: Any) -> str:
    """One Python value as text, the way `encode_array` writes it, but for a double, which is
    its repr (`encode_key_value` spells a key's double as the sync does)."""
    if type(value) is str:  # the common cases first: keys are mostly text or ints
        return value
    if type(value) is int:
        return str(value)
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, numbers.Integral):
        return str(int(value))
    if isinstance(value, float):
        return repr(value)  # a key's double is spelt by encode_key_value, as the sync spells it
    if isinstance(value, datetime):
        if value.tzinfo is not None:
            value = value.astimezone(timezone.utc).replace(tzinfo=None)
        return value.isoformat(timespec="microseconds")
    if isinstance(value, date):
        return value.isoformat()
    return str(value)


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
    tz_keys: tuple[str, ...] = ()
    """The timestamp join keys with a time zone (TIMESTAMPTZ): an offset in a read's text is
    the moment there, where DuckDB's cast to a plain TIMESTAMP drops it. Recorded only where
    a view has one."""
    u64_keys: tuple[str, ...] = ()
    """The integer join keys that are unsigned 64-bit (UBIGINT): a read takes values up to 2^64-1
    for them, where another integer key refuses what BIGINT cannot hold. Recorded only where a
    view has one."""

    @property
    def feature_names(self) -> tuple[str, ...]:
        return tuple(name for name, _ in self.features)

    @property
    def key_types(self) -> tuple[tuple[str, str], ...]:
        """Each join key with the type a read converts its values to (`key_value`): its
        logical type, a decimal's with its scale (`decimal:2`)."""
        scales = dict(self.key_scales)
        return tuple(
            (key, f"{logical}:{scales[key]}" if key in scales else f"{logical}:tz" if key in self.tz_keys
             else f"{logical}:u64" if key in self.u64_keys else logical)
            for key, logical in self.join_keys
        )

    def differs_only_in_key_format(self, other: "ViewSchema") -> bool:
        """Whether `other` is this schema but for what fs records of its keys' format
        (`key_scales`, `tz_keys`, recorded since fs named such keys by them): a schema an
        older fs recorded, where the user changed nothing."""
        return self != other and replace(self, key_scales=other.key_scales, tz_keys=other.tz_keys, u64_keys=other.u64_keys) == other

    def to_json(self) -> str:
        data: dict[str, Any] = {
            "join_keys": dict(self.join_keys),
            "timestamp": self.timestamp,
            "created_at": self.created_at,
            "features": dict(self.features),
        }
        if self.key_scales:  # absent otherwise: the schema of every other view is unchanged
            data["key_scales"] = dict(self.key_scales)
        if self.tz_keys:
            data["tz_keys"] = list(self.tz_keys)
        if self.u64_keys:
            data["u64_keys"] = list(self.u64_keys)
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
            tz_keys=tuple(data.get("tz_keys", ())),
            u64_keys=tuple(data.get("u64_keys", ())),
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
            tz_keys=tuple(k for k, logical in join_keys if logical == "timestamp" and types[k].tz is not None),  # type: ignore[attr-defined]
            u64_keys=tuple(k for k, logical in join_keys if logical == "int" and str(types[k]) == "uint64"),
        )
