"""Which rows are valid at the project's now, as a sync and a push write them: the clock a
sync runs under (real or frozen), the settings it records beside the watermark, and each
row's remaining lifetime in Redis. One rule everywhere (docs/online-store.md, "Expiry")."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Callable

from featurestore.catalog import FeatureView
from featurestore.catalog.ttl import format_ttl
from featurestore.console import plural

if TYPE_CHECKING:
    import pyarrow as pa


@dataclass(frozen=True)
class SyncClock:
    """The project's clock as a sync uses it: `now`, and whether it moves (the real clock) or
    is frozen (feature_store.yml clock.now)."""

    now: Callable[[], datetime]
    moves: bool

    def valid_under(self, view: FeatureView) -> str:
        """The settings that decide which of the view's rows are valid, recorded with the
        watermark (state.Meta.VALID_UNDER). The real clock is the same clock at every sync."""
        clock = "the real clock" if self.moves else f"clock.now {self.now().isoformat()}"
        return f"ttl {format_ttl(view.ttl)}, {clock}"

    def all_expired(self, view: FeatureView, rows: int) -> str:
        """The warning for a sync whose every row was past its ttl."""
        if self.moves:
            fix = "for historical data, set clock.now in feature_store.yml to a time the data covers"
        else:
            fix = "is clock.now in feature_store.yml a time the data covers?"
        return (
            f"view '{view.name}': {plural(rows, 'row')} read, all past the view's ttl "
            f"({format_ttl(view.ttl)}) at now ({self.now().isoformat()}), so none is served; {fix}"
        )


def remaining_lifetimes_ms(
    timestamps: "pa.Array", ttl: timedelta | None, now: datetime, clock_moves: bool = True
) -> tuple["pa.Array", "pa.Array | None"]:
    """Per row, how long its key should live in ms (0 = forever), and which rows are still
    valid at `now` (None when the view has no ttl).

    One rule everywhere (docs/online-store.md "Expiry"): a row is valid at t while
    `timestamp >= t - ttl`, inclusive, at microsecond resolution - the training set's SQL,
    this filter, the reader and verify-online all test exactly that. Redis expiry is only
    the clean-up behind the reader, in whole milliseconds on Redis' own clock counted from
    the write, so it must never come before the reader's answer turns: the key lives until
    the millisecond *after* the one holding timestamp + ttl (a row due exactly now gets
    1 ms more than the rounding, not 1 ms in all). The reader decides within that
    millisecond.

    With a frozen clock (`clock_moves` false: feature_store.yml clock.now) time does not
    pass for the reader, the training set or verify, so a row valid at it stays valid: its
    key does not expire (an expiry on Redis' real clock would drop a value all three still
    serve; daily rows at a midnight clock.now are due exactly then).
    """
    import pyarrow as pa
    import pyarrow.compute as pc

    if ttl is None:
        return pa.array([0] * len(timestamps), pa.int64()), None
    micros = timestamps.cast(pa.timestamp("us")).cast(pa.int64())
    # Integer division: a float loses microseconds past 2**53 (after year 2255). The checked
    # kernels raise rather than wrap; with ttl at most 100 years no timestamp gets near int64.
    now_us = (now - datetime(1970, 1, 1)) // timedelta(microseconds=1)
    remaining = pc.subtract_checked(pc.add_checked(micros, ttl // timedelta(microseconds=1)), now_us)
    alive = pc.greater_equal(remaining, 0)
    if not clock_moves:
        return pa.array([0] * len(timestamps), pa.int64()), alive
    # Whole ms from now's millisecond to the one after timestamp + ttl's: for a valid row
    # (remaining >= 0) the sum below is not negative, so the integer division floors.
    into_ms = now_us % 1000
    lifetimes = pc.max_element_wise(pc.add(pc.divide(pc.add(remaining, into_ms), 1000), 1), 1)
    return lifetimes, alive
