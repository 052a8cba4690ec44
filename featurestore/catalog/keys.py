"""The one check every block of feature-store meta makes first: no key it does not know.

Shared by the view's meta (meta.py), its fs check settings (monitoring.py) and on-demand groups
(on_demand_meta.py), so that a misspelt key reads the same wherever it is."""

from __future__ import annotations

from typing import Callable, Iterable

from featurestore.errors import MetaError, closest

Fail = Callable[..., MetaError]


def refuse_unknown_keys(mapping: dict, keys: Iterable[str], place: str, fail: Fail) -> None:
    """The first key of `mapping` not in `keys` is an error naming the key, where it is
    (`meta.feature_store...`), the closest valid key and all of them."""
    keys = list(keys)
    for key in mapping:
        if key not in keys:
            hint = closest(str(key), keys)
            raise fail(
                f"unknown key '{key}' under {place}",
                (f"did you mean '{hint[0]}'? " if hint else "") + "valid keys: " + ", ".join(keys),
            )
