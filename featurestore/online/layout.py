"""Where each online value lives in Redis, and how it is written as text and read back.

Every key starts with the project's prefix (`fs:flight_features` in the demo):

    fs:flight_features:carrier_daily:meta                  hash: generation, watermark, schema
    fs:flight_features:carrier_daily:gen3:carrier=UA       hash: one entity's latest row
    fs:flight_features:route_daily:gen1:origin=JFK:dest=LAX
    fs:flight_features:sync-lock                           string: who is syncing

An entity hash holds the row's event timestamp under the view's timestamp column name, its
created_at (when the view declares one) under that column's name, and one field per feature
under the feature's name. A null is an absent field. Values are readable text, decoded by the
type recorded in the view's schema: see docs/online-store.md.

Nothing here does I/O: it is names and encodings only, so it is unit-tested without Redis.
"""

from __future__ import annotations

import json
import numbers
from dataclasses import dataclass
from datetime import date, datetime, timezone
from decimal import Decimal
from typing import TYPE_CHECKING, Any, Callable, Iterable, Mapping, Sequence

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


def decode_value(text: str | None, logical: str) -> Any:
    """The Python value of a stored field; None (null) for an absent one."""
    return None if text is None else DECODERS[logical](text)


# -- keys -----------------------------------------------------------------------------------
# A key part is `name=value`; parts are joined with ":". Only "%" and ":" in a value are
# escaped (as %25 and %3A), so keys stay readable and can be split back into their parts.

def escape_key_value(text: str) -> str:
    if "%" not in text and ":" not in text:
        return text
    return text.replace("%", "%25").replace(":", "%3A")


def unescape_key_value(text: str) -> str:
    return text.replace("%3A", ":").replace("%25", "%")


def entity_suffix(join_keys: Sequence[str], values: Sequence[Any]) -> str:
    """`origin=JFK:dest=LAX`: the part of an entity's key after the generation."""
    return ":".join(f"{k}={escape_key_value(encode_value(v))}" for k, v in zip(join_keys, values))


def entity_suffixes(join_keys: Sequence[str], arrays: Sequence["pa.Array"], logicals: Sequence[str]) -> "pa.Array":
    """`entity_suffix` of every row, vectorized (the arrays hold no nulls)."""
    import pyarrow.compute as pc

    parts = []
    for name, array, logical in zip(join_keys, arrays, logicals):
        text = encode_array(array, logical)
        escaped = pc.replace_substring(pc.replace_substring(text, "%", "%25"), ":", "%3A")
        parts.append(pc.binary_join_element_wise(f"{name}=", escaped, ""))
    return pc.binary_join_element_wise(*parts, ":") if len(parts) > 1 else parts[0]


def parse_entity_suffix(suffix: str) -> dict[str, str]:
    """`origin=JFK:dest=LAX` -> {"origin": "JFK", "dest": "LAX"} (values as text)."""
    pairs = (part.partition("=") for part in suffix.split(":"))
    return {name: unescape_key_value(value) for name, _, value in pairs}


def escape_glob(text: str) -> str:
    """`text` matched literally in a SCAN MATCH pattern."""
    return "".join("\\" + c if c in "*?[]\\" else c for c in text)


@dataclass(frozen=True)
class Keyspace:
    """The names of every key one project writes, under its prefix."""

    prefix: str

    def meta_key(self, view: str) -> str:
        return f"{self.prefix}:{view}:meta"

    def lock_key(self) -> str:
        return f"{self.prefix}:sync-lock"

    def entity_base(self, view: str, generation: int) -> str:
        """What every entity key of one generation starts with; the entity suffix follows."""
        return f"{self.prefix}:{view}:gen{generation}:"

    def entity_pattern(self, view: str, generation: int | None = None) -> str:
        """A SCAN MATCH pattern for the entity keys of one generation, or of every one."""
        stem = escape_glob(f"{self.prefix}:{view}:gen")
        return stem + ("[0-9]*" if generation is None else f"{generation}:*")

    def entity_key(self, view: str, generation: int, join_keys: Sequence[str], values: Sequence[Any]) -> str:
        return self.entity_base(view, generation) + entity_suffix(join_keys, values)


# -- the schema recorded per view -----------------------------------------------------------

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

    @property
    def feature_names(self) -> tuple[str, ...]:
        return tuple(name for name, _ in self.features)

    def to_json(self) -> str:
        return json.dumps(
            {
                "join_keys": dict(self.join_keys),
                "timestamp": self.timestamp,
                "created_at": self.created_at,
                "features": dict(self.features),
            }
        )

    @classmethod
    def from_json(cls, text: str) -> "ViewSchema":
        data = json.loads(text)
        return cls(
            join_keys=tuple(data["join_keys"].items()),
            timestamp=data["timestamp"],
            created_at=data["created_at"],
            features=tuple(data["features"].items()),
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
        return cls(
            join_keys=tuple((k, stored(k)) for k in view.join_keys),
            timestamp=view.timestamp,
            created_at=view.created_at,
            features=tuple((f, stored(f)) for f in view.feature_names),
        )


@dataclass(frozen=True)
class EncodedRows:
    """Rows of one view as the text Redis will hold, one Arrow array entry per row."""

    keys: "pa.Array"
    timestamp: "pa.Array"
    created_at: "pa.Array | None"
    """None for a view without created_at; null where a row has none."""
    features: list["pa.Array"]
    """In the order of the schema's features; null where the value is null (no field)."""
    expire_ms: "pa.Array"
    """How long each key should live, in ms; 0 for ever."""

    def __len__(self) -> int:
        return len(self.keys)


def encode_rows(
    batch: "pa.RecordBatch", schema: ViewSchema, base: str, expire_ms: "pa.Array"
) -> EncodedRows:
    """Encode the rows of `batch` (join keys not null), their keys starting with `base`."""
    import pyarrow.compute as pc

    suffixes = entity_suffixes(
        [k for k, _ in schema.join_keys], [batch[k] for k, _ in schema.join_keys], [t for _, t in schema.join_keys]
    )
    return EncodedRows(
        keys=pc.binary_join_element_wise(base, suffixes, ""),
        timestamp=encode_array(batch[schema.timestamp], "timestamp"),
        created_at=encode_array(batch[schema.created_at], "timestamp") if schema.created_at else None,
        features=[encode_array(batch[name], logical) for name, logical in schema.features],
        expire_ms=expire_ms,
    )
