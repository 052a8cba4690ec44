-- One row per flight out of New York at the moment its departure (or cancellation) became
-- known: an event model. fs aggregates it over sliding windows ending at each spine row's
-- time, exactly (docs/aggregations.md), so no daily snapshot is written here.
select
    origin,
    departure_known_at,
    dep_delay,
    carrier
from {{ ref('stg_flights') }}
