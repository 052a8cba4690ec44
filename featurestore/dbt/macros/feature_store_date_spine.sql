{#
  One row per day from start_date up to (not including) end_date, in a column date_day.
  dbt's date_spine on Spark goes through unix seconds and comes out empty when
  TIMESTAMP means TIMESTAMP_NTZ (the spark target's setting), so Spark generates the days
  itself.
#}
{% macro feature_store_date_spine(start_date, end_date) %}
    {{ return(adapter.dispatch('feature_store_date_spine', 'featurestore')(start_date, end_date)) }}
{% endmacro %}

{% macro default__feature_store_date_spine(start_date, end_date) %}
    {{ dbt.date_spine('day', start_date, end_date) }}
{% endmacro %}

{% macro spark__feature_store_date_spine(start_date, end_date) %}
    select explode(sequence({{ start_date }}, date_sub({{ end_date }}, 1), interval 1 day)) as date_day
{% endmacro %}
