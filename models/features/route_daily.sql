-- Daily statistics per route (origin, destination) over the flights scheduled in the
-- previous 28 days. Arrival delays are only known once a flight has landed, which can be
-- after the row's day starts: `known_at` records when the whole row became true, and the
-- training set uses it as a knowledge cut-off so late arrivals never leak backwards.
with flights as (
    select * from {{ ref('stg_flights') }}
),

calendar as (
    {{ featurestore.feature_store_date_spine("cast('2013-01-01' as date)", "cast('2014-01-02' as date)") }}
),

route_days as (
    select routes.origin, routes.dest, routes.distance, cast(calendar.date_day as date) as day
    from (select origin, dest, max(distance) as distance from flights group by 1, 2) as routes
    cross join calendar
),

flights_by_scheduled_day as (
    select
        origin,
        dest,
        cast(scheduled_departure_at as date) as day,
        count(*) as flights,
        count(dep_delay) as departed,
        sum(case when is_dep_delayed then 1 else 0 end) as dep_delayed,
        count(arr_delay) as arrived,
        sum(case when is_arr_delayed then 1 else 0 end) as arr_delayed,
        sum(arr_delay) as arr_delay_minutes,
        max(coalesce(arrival_known_at, departure_known_at)) as last_known_at
    from flights
    group by 1, 2, 3
),

dense as (
    select
        route_days.origin,
        route_days.dest,
        route_days.distance,
        route_days.day,
        coalesce(scheduled.flights, 0) as flights,
        coalesce(scheduled.departed, 0) as departed,
        coalesce(scheduled.dep_delayed, 0) as dep_delayed,
        coalesce(scheduled.arrived, 0) as arrived,
        coalesce(scheduled.arr_delayed, 0) as arr_delayed,
        coalesce(scheduled.arr_delay_minutes, 0) as arr_delay_minutes,
        scheduled.last_known_at
    from route_days
    left join flights_by_scheduled_day as scheduled
        on scheduled.origin = route_days.origin
        and scheduled.dest = route_days.dest
        and scheduled.day = route_days.day
),

windowed as (
    select
        origin,
        dest,
        distance,
        day,
        sum(flights) over last_28_days as flights_28d,
        sum(departed) over last_28_days as departed_28d,
        sum(dep_delayed) over last_28_days as dep_delayed_28d,
        sum(arrived) over last_28_days as arrived_28d,
        sum(arr_delayed) over last_28_days as arr_delayed_28d,
        sum(arr_delay_minutes) over last_28_days as arr_delay_minutes_28d,
        max(last_known_at) over last_28_days as last_known_at_28d
    from dense
    window last_28_days as (
        partition by origin, dest order by day rows between 28 preceding and 1 preceding
    )
)

select
    cast(origin as {{ featurestore.feature_store_text() }}) as origin,
    cast(dest as {{ featurestore.feature_store_text() }}) as dest,
    cast(day as timestamp) as as_of,
    -- Never before the row's own timestamp: a row cannot be known before the day it describes.
    cast(greatest(cast(day as timestamp), last_known_at_28d) as timestamp) as known_at,
    cast(flights_28d as bigint) as route__flights__28d,
    cast(dep_delayed_28d as {{ featurestore.feature_store_double() }}) / nullif(departed_28d, 0) as route__dep_delay_rate__28d,
    cast(arr_delayed_28d as {{ featurestore.feature_store_double() }}) / nullif(arrived_28d, 0) as route__arr_delay_rate__28d,
    cast(arr_delay_minutes_28d as {{ featurestore.feature_store_double() }}) / nullif(arrived_28d, 0) as route__avg_arr_delay_min__28d,
    cast(distance as bigint) as route__distance_mi
from windowed
where flights_28d > 0
