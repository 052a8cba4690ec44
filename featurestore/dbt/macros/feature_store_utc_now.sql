{#
  The current time as a naive UTC timestamp, the form every feature timestamp takes.
  Engines spell it differently, so it is dispatched per adapter.
#}
{% macro feature_store_utc_now() %}
    {{ return(adapter.dispatch('feature_store_utc_now', 'featurestore')()) }}
{% endmacro %}

{% macro default__feature_store_utc_now() %}
    cast(timezone('UTC', current_timestamp) as timestamp)
{% endmacro %}

{% macro snowflake__feature_store_utc_now() %}
    cast(convert_timezone('UTC', current_timestamp()) as timestamp_ntz)
{% endmacro %}

{% macro bigquery__feature_store_utc_now() %}
    current_datetime('UTC')
{% endmacro %}

{% macro spark__feature_store_utc_now() %}
    to_utc_timestamp(current_timestamp(), current_timezone())
{% endmacro %}
