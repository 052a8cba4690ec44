"""Expressions of the on-demand language, one per construct whose meaning engines could
disagree on: the parity property tests run them, and benchmarks/bench_on_demand.py times them.

They read a view `stats` (n bigint, x double, flag boolean, tier varchar, at timestamp) and
the request fields r bigint, q double, s varchar, requested_at timestamp.
"""

EXPRESSIONS = {
    "int_div": "stats.n // r",
    "int_mod": "stats.n % r",
    "double_div": "stats.x / r",
    "bigint_div": "stats.n / r",
    "rounding_cast": "cast(stats.x * q as bigint)",
    "coalesced": "coalesce(stats.n, r, -1) + 1",
    "branches": "case when stats.flag and q > 0 then 'up' when stats.flag is null or not stats.flag then s end",
    "three_valued": "stats.flag or r > 2",
    "later": "stats.at + r * interval 1 minute",
    "seconds_between": "epoch(requested_at) - epoch(stats.at)",
    "within_hour": "requested_at >= stats.at + interval 1 hour",
    "label": "cast(stats.n as varchar) || '-' || stats.tier",
    "floored": "floor(stats.x) - ceil(q)",
    "mixed": "abs(stats.n - r) * 2.5",
    "same_tier": "nullif(stats.tier, s)",
    "chosen": "if(stats.n > r, stats.x, r)",
    "thirds": "cast(r as double) / 3",
}
