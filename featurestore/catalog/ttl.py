"""Parsing and printing ttl strings such as `30d`, `3h` or `1d12h`."""

from __future__ import annotations

import re
from datetime import timedelta

_UNIT_SECONDS = {"w": 604_800, "d": 86_400, "h": 3_600, "m": 60, "s": 1}
_TTL = re.compile(r"^(?:\d+[wdhms])+$")
_PART = re.compile(r"(\d+)([wdhms])")

VALID_TTL = "valid: a number and a unit, s m h d or w, such as 90m, 3h, 30d or 1d12h"


def parse_ttl(text: str) -> timedelta:
    """`"1d12h"` -> timedelta(days=1, hours=12). Raises ValueError on anything else.

    >>> parse_ttl("3h")
    datetime.timedelta(seconds=10800)
    """
    compact = str(text).strip().lower()
    if not _TTL.match(compact):
        raise ValueError(text)
    seconds = sum(int(n) * _UNIT_SECONDS[unit] for n, unit in _PART.findall(compact))
    if seconds == 0:
        raise ValueError(text)
    return timedelta(seconds=seconds)


def format_ttl(ttl: timedelta | None) -> str:
    """The shortest ttl string for `ttl`; "-" for no limit.

    >>> format_ttl(timedelta(days=1, hours=12))
    '1d12h'
    """
    if ttl is None:
        return "-"
    remaining = int(ttl.total_seconds())
    parts = []
    for unit in ("d", "h", "m", "s"):
        count, remaining = divmod(remaining, _UNIT_SECONDS[unit])
        if count:
            parts.append(f"{count}{unit}")
    return "".join(parts)
