"""Parsing and printing ttl strings such as `30d`, `3h` or `1d12h`."""

from __future__ import annotations

import re
from datetime import timedelta

_UNIT_SECONDS = {"w": 604_800, "d": 86_400, "h": 3_600, "m": 60, "s": 1}
_TTL = re.compile(r"^(?:\d+[wdhms])+$")
_PART = re.compile(r"(\d+)([wdhms])")

VALID_TTL = "valid: a number and a unit, s m h d or w, such as 90m, 3h, 30d or 1d12h"

# A bound keeps every date computed from a ttl (timestamp + ttl, now - ttl, in Python, Arrow
# int64 microseconds, Redis milliseconds and SQL intervals) far inside what each can hold, and
# no real feature stays valid for longer.
MAX_TTL = timedelta(days=36_500)
MAX_TTL_TEXT = "36500d (100 years)"


class TtlOutOfRange(ValueError):
    """A well-formed ttl that is zero or longer than MAX_TTL."""


def parse_ttl(text: str) -> timedelta:
    """`"1d12h"` -> timedelta(days=1, hours=12). Raises TtlOutOfRange for zero or more than
    MAX_TTL, ValueError on anything else.

    >>> parse_ttl("3h")
    datetime.timedelta(seconds=10800)
    """
    compact = str(text).strip().lower()
    if not _TTL.match(compact):
        raise ValueError(text)
    # Summed as Python ints and bounded before timedelta sees them: 99999999999d overflows it.
    seconds = sum(int(n) * _UNIT_SECONDS[unit] for n, unit in _PART.findall(compact))
    if seconds == 0 or seconds > MAX_TTL.total_seconds():
        raise TtlOutOfRange(text)
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
