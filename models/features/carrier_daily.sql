-- Daily delay statistics per carrier. The row for day D summarises departures (and
-- cancellations) that became known on the days before D, so a feature read at any time
-- on day D uses only outcomes that had already happened.
with flights as (
    select * from {{ ref('stg_flights') }}
),

calendar as (
    {{ featurestore.feature_store_date_spine("cast('2013-01-01' as date)", "cast('2014-01-02' as date)") }}
),

carrier_days as (
    select carriers.carrier, cast(calendar.date_day as date) as day
    from (select distinct carrier from flights) as carriers
    cross join calendar
),

outcomes_by_known_day as (
    select
        carrier,
        cast(departure_known_at as date) as day,
        count(*) as flights,
        sum(case when is_cancelled then 1 else 0 end) as cancelled,
        count(dep_delay) as departed,
        sum(case when is_dep_delayed then 1 else 0 end) as dep_delayed,
        sum(dep_delay) as dep_delay_minutes
    from flights
    group by 1, 2
),

dense as (
    select
        carrier_days.carrier,
        carrier_days.day,
        coalesce(outcomes.flights, 0) as flights,
        coalesce(outcomes.cancelled, 0) as cancelled,
        coalesce(outcomes.departed, 0) as departed,
        coalesce(outcomes.dep_delayed, 0) as dep_delayed,
        coalesce(outcomes.dep_delay_minutes, 0) as dep_delay_minutes
    from carrier_days
    left join outcomes_by_known_day as outcomes
        on outcomes.carrier = carrier_days.carrier and outcomes.day = carrier_days.day
),

-- The calendar is dense (one row per carrier and day), so "N rows preceding" is N days.
windowed as (
    select
        carrier,
        day,
        sum(flights) over last_7_days as flights_7d,
        sum(cancelled) over last_7_days as cancelled_7d,
        sum(departed) over last_7_days as departed_7d,
        sum(dep_delayed) over last_7_days as dep_delayed_7d,
        sum(dep_delay_minutes) over last_7_days as dep_delay_minutes_7d,
        sum(departed) over last_28_days as departed_28d,
        sum(dep_delayed) over last_28_days as dep_delayed_28d
    from dense
    window
        last_7_days as (partition by carrier order by day rows between 7 preceding and 1 preceding),
        last_28_days as (partition by carrier order by day rows between 28 preceding and 1 preceding)
),

final as (
    select
        cast(carrier as {{ featurestore.feature_store_text() }}) as carrier,
        cast(day as timestamp) as as_of,
        cast(coalesce(flights_7d, 0) as bigint) as carrier__flights__7d,
        cast(cancelled_7d as {{ featurestore.feature_store_double() }}) / nullif(flights_7d, 0) as carrier__cancel_rate__7d,
        cast(dep_delayed_7d as {{ featurestore.feature_store_double() }}) / nullif(departed_7d, 0) as carrier__dep_delay_rate__7d,
        cast(dep_delay_minutes_7d as {{ featurestore.feature_store_double() }}) / nullif(departed_7d, 0) as carrier__avg_dep_delay_min__7d,
        cast(dep_delayed_28d as {{ featurestore.feature_store_double() }}) / nullif(departed_28d, 0) as carrier__dep_delay_rate__28d
    from windowed
)

-- Rows pushed with `fs push carrier_daily` (a stream's fresher statistics) join the batch rows.
{{ featurestore.feature_store_with_pushed_rows('final') }}
