{#
  Feature contract: at most one row per entity and timestamp, so a point-in-time lookup
  has one answer. Put it on the model:

    data_tests:
      - featurestore.feature_unique_entity_timestamp:
          join_keys: [customer_id]
          timestamp: event_timestamp
#}
{% test feature_unique_entity_timestamp(model, join_keys, timestamp) %}
    {%- set key_columns = join_keys + [timestamp] -%}
    select {{ key_columns | join(', ') }}, count(*) as rows_per_key
    from {{ model }}
    group by {{ key_columns | join(', ') }}
    having count(*) > 1
{% endtest %}
