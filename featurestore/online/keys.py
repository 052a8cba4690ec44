"""Where each online value lives in Redis: the names of every key a project writes.

Every key starts with the project's prefix (`fs:flight_features` in the demo):

    fs:flight_features:carrier_daily:meta                  hash: generation, watermark, schema
    fs:flight_features:carrier_daily:gen3:carrier=UA       hash: one entity's latest row
    fs:flight_features:route_daily:gen1:origin=JFK:dest=LAX
    fs:flight_features:sync-lock                           string: who is syncing

On a Redis Cluster the lock and the meta hashes are `{fs:flight_features}:sync-lock` and
`{fs:flight_features}:carrier_daily:meta`: the braces are a hash tag, which puts them in one
slot (docs/online-store.md). Entity keys are named as on a single server.

An entity hash holds the row's event timestamp under the view's timestamp column name, its
created_at (when the view declares one) under that column's name, and one field per feature
under the feature's name. A null is an absent field.

A key part is `name=value`; parts are joined with ":". Only "%" and ":" in a value are
escaped (as %25 and %3A), so keys stay readable and can be split back into their parts.
Nothing here does I/O.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Sequence

from featurestore.online.codec import encode_key_array, encode_key_value

if TYPE_CHECKING:
    import pyarrow as pa


def escape_key_value(text: str) -> str:
    if "%" not in text and ":" not in text:
        return text
    return text.replace("%", "%25").replace(":", "%3A")


def unescape_key_value(text: str) -> str:
    return text.replace("%3A", ":").replace("%25", "%")


def entity_suffix(join_keys: Sequence[str], values: Sequence[Any]) -> str:
    """`origin=JFK:dest=LAX`: the part of an entity's key after the generation."""
    return ":".join(f"{k}={escape_key_value(encode_key_value(v))}" for k, v in zip(join_keys, values))


def entity_suffixes(join_keys: Sequence[str], arrays: Sequence["pa.Array"], logicals: Sequence[str]) -> "pa.Array":
    """`entity_suffix` of every row, vectorized (the arrays hold no nulls)."""
    import pyarrow.compute as pc

    parts = []
    for name, array, logical in zip(join_keys, arrays, logicals):
        text = encode_key_array(array, logical)
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
    cluster: bool = False
    """On a Redis Cluster the lock and every meta hash carry the hash tag `{<prefix>}`, so they
    share one slot: the scripts of featurestore.online.state take them together. Entity keys
    carry no tag, and spread over every slot."""

    @property
    def _state_prefix(self) -> str:
        return f"{{{self.prefix}}}" if self.cluster else self.prefix

    def meta_key(self, view: str) -> str:
        return f"{self._state_prefix}:{view}:meta"

    def lock_key(self) -> str:
        return f"{self._state_prefix}:sync-lock"

    def entity_base(self, view: str, generation: int) -> str:
        """What every entity key of one generation starts with; the entity suffix follows."""
        return f"{self.prefix}:{view}:gen{generation}:"

    def entity_pattern(self, view: str, generation: int | None = None) -> str:
        """A SCAN MATCH pattern for the entity keys of one generation, or of every one."""
        stem = escape_glob(f"{self.prefix}:{view}:gen")
        return stem + ("[0-9]*" if generation is None else f"{generation}:*")
