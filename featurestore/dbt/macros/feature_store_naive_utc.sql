{#
  A timestamp with a time zone as a naive UTC timestamp, the form every feature
  timestamp takes. Engines spell it differently, so it is dispatched per adapter.
#}
{% macro feature_store_naive_utc(column) %}
    {{ return(adapter.dispatch('feature_store_naive_utc', 'featurestore')(column)) }}
{% endmacro %}

{% macro default__feature_store_naive_utc(column) %}
    timezone('UTC', {{ column }})
{% endmacro %}

{# Spark's sessions run in UTC (profiles.yml), so the cast reads the instant in UTC. #}
{% macro spark__feature_store_naive_utc(column) %}
    cast({{ column }} as timestamp_ntz)
{% endmacro %}
