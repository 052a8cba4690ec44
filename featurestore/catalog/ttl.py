"""Parsing and printing ttl strings such as `30d`, `3h` or `1d12h`."""

from __future__ import annotations

import re
from contextlib import contextmanager
from contextvars import ContextVar
from datetime import timedelta
from typing import Iterator

_UNIT_SECONDS = {"w": 604_800, "d": 86_400, "h": 3_600, "m": 60, "s": 1}
_UNITS = "wdhms"
"""Largest first: the order units are written in, each at most once."""
# Exactly the documented spelling: `1M` (a month?) is not `1m`, and `1d1d` is not `2d`. Digits
# are ASCII: `\d` matches any script's, and int() reads them (`٣d` would be 3 days).
_TTL = re.compile(r"^(?=[0-9])(?:([0-9]+)w)?(?:([0-9]+)d)?(?:([0-9]+)h)?(?:([0-9]+)m)?(?:([0-9]+)s)?$")
_LOOSE_PART = re.compile(r"([0-9]+)([A-Za-z]+)")
# How fs read durations before they were strict: any case, any order, a repeated unit summed
# (`3D` is 3d, `1M` one minute, `12h1d` 1d12h), and any script's digits, as `\d` matched them.
# Only state an older fs wrote is read so.
_OLDER = re.compile(r"^(?:\d+[wdhms])+$")
_OLDER_PART = re.compile(r"(\d+)([wdhms])")

_older_spellings: ContextVar[bool] = ContextVar("older_spellings", default=False)

VALID_TTL = (
    "valid: a number and a lower-case unit, s m h d or w, such as 90m, 3h or 30d; "
    "units combine largest first, each once, such as 1d12h"
)

# A bound keeps every date computed from a ttl (timestamp + ttl, now - ttl, in Python, Arrow
# int64 microseconds, Redis milliseconds and SQL intervals) far inside what each can hold, and
# no real feature stays valid for longer.
MAX_TTL = timedelta(days=36_500)
MAX_TTL_TEXT = "36500d (100 years)"


class TtlOutOfRange(ValueError):
    """A well-formed ttl that is zero or longer than MAX_TTL."""


class NotADuration(ValueError):
    """Text that is not a duration; `reason` says why when it looks like one ("" otherwise)."""

    def __init__(self, text: object, reason: str = ""):
        super().__init__(text)
        self.reason = reason


def parse_ttl(text: str) -> timedelta:
    """`"1d12h"` -> timedelta(days=1, hours=12). Raises TtlOutOfRange for zero or more than
    MAX_TTL, NotADuration (a ValueError) on anything else.

    Inside `older_spellings()`, text is read as an older fs read it (see there).

    >>> parse_ttl("3h")
    datetime.timedelta(seconds=10800)
    """
    compact = str(text).strip()
    if _older_spellings.get():
        if not _OLDER.match(compact.lower()):
            raise NotADuration(text)
        parts = _OLDER_PART.findall(compact.lower())
    else:
        match = _TTL.match(compact)
        if not match:
            raise NotADuration(text, _why_not(compact))
        parts = [(n, unit) for n, unit in zip(match.groups(), _UNITS) if n is not None]
    # Summed as Python ints and bounded before timedelta sees them: 99999999999d overflows it.
    seconds = sum(int(n) * _UNIT_SECONDS[unit] for n, unit in parts)
    if seconds == 0 or seconds > MAX_TTL.total_seconds():
        raise TtlOutOfRange(text)
    return timedelta(seconds=seconds)


@contextmanager
def older_spellings() -> Iterator[None]:
    """Within: parse_ttl reads durations as fs did before it was strict (any case, units in
    any order, a repeated unit summed), for state an older fs wrote, such as the deployed
    manifest `fs diff` compares with: it holds what was deployed, so `3D` there is 3d, and
    `1M` one minute, as they were served. The project itself is always read strictly.

    >>> with older_spellings():
    ...     parse_ttl("12h1D")
    datetime.timedelta(days=1, seconds=43200)
    """
    token = _older_spellings.set(True)
    try:
        yield
    finally:
        _older_spellings.reset(token)


def strict_spelling(text: object) -> str | None:
    """`text` as a duration an older fs read (`older_spellings`) is written now, each unit
    once, largest first, in lower case; None when no fs read it as a duration.

    >>> strict_spelling("12h1D"), strict_spelling("2W"), strict_spelling("1 day")
    ('1d12h', '2w', None)
    """
    try:
        with older_spellings():
            parse_ttl(text)  # type: ignore[arg-type]
    except ValueError:
        return None
    counts = dict.fromkeys(_UNITS, 0)
    for n, unit in _OLDER_PART.findall(str(text).strip().lower()):
        counts[unit] += int(n)
    return "".join(f"{count}{unit}" for unit, count in counts.items() if count)


def not_a_duration(subject: str, error: ValueError) -> str:
    """`<subject> is not a duration`, with the reason parse_ttl found, for a MetaError."""
    reason = getattr(error, "reason", "")
    return f"{subject} is not a duration" + (f": {reason}" if reason else "")


def _why_not(compact: str) -> str:
    """Why text shaped like numbers and letters is not a duration; "" for other text."""
    if not re.fullmatch(r"(?:[0-9]+[A-Za-z]+)+", compact):
        return ""
    seen: list[str] = []
    for _, unit in _LOOSE_PART.findall(compact):
        if unit not in _UNIT_SECONDS:
            if unit.lower() not in _UNIT_SECONDS:
                return f"'{unit}' is not a unit"
            month = "; m is minutes, and there is no month unit" if unit == "M" else ""
            return f"units are lower case, so '{unit}' is not one{month}"
        if unit in seen:
            return f"unit '{unit}' comes twice"
        if seen and _UNITS.index(unit) < _UNITS.index(seen[-1]):
            return f"'{unit}' comes after the smaller unit '{seen[-1]}'"
        seen.append(unit)
    return ""


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
