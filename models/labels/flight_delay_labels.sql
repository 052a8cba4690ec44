-- The spine for the flight-delay model: one row per flight that departed, at its
-- scheduled departure time, labelled with whether it left more than 15 minutes late.
-- Cancelled flights have no departure delay, so they have no label and are left out.
-- scheduled_minutes, a field of the request when a flight is scored (on-demand features read
-- it), is the scheduled block time: the local clock times of departure and arrival moved into
-- one time zone by the airports' standard offsets, wrapped past midnight (an hour off in summer
-- for the few airports without daylight saving time; null where the destination's is unknown).
with airports as (
    select faa, tz from {{ source('nycflights13', 'airports') }}
)

select
    flights.flight_id,
    flights.carrier,
    flights.tailnum,
    flights.origin,
    flights.dest,
    flights.scheduled_departure_at as event_timestamp,
    cast(((
        (cast(floor(flights.sched_arr_time / 100) as integer) * 60 + flights.sched_arr_time % 100)
        - (cast(floor(flights.sched_dep_time / 100) as integer) * 60 + flights.sched_dep_time % 100)
        + (origin_airport.tz - dest_airport.tz) * 60
    ) % 1440 + 1440) % 1440 as bigint) as scheduled_minutes,
    flights.is_dep_delayed as is_delayed
from {{ ref('stg_flights') }} as flights
left join airports as origin_airport on origin_airport.faa = flights.origin
left join airports as dest_airport on dest_airport.faa = flights.dest
where not flights.is_cancelled
