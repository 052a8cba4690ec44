-- The spine for the flight-delay model: one row per flight that departed, at its
-- scheduled departure time, labelled with whether it left more than 15 minutes late.
-- Cancelled flights have no departure delay, so they have no label and are left out.
select
    flight_id,
    carrier,
    tailnum,
    origin,
    dest,
    scheduled_departure_at as event_timestamp,
    -- A field of the request when scoring a flight: on-demand features read it.
    scheduled_minutes,
    is_dep_delayed as is_delayed
from {{ ref('stg_flights') }}
where not is_cancelled
