{#
  Feature contract: a row cannot have been written (known) before the moment it
  describes. A violation means the knowledge time would let the row leak backwards.

    columns:
      - name: loaded_at
        data_tests:
          - featurestore.feature_created_at_not_before_timestamp:
              timestamp: event_timestamp
#}
{% test feature_created_at_not_before_timestamp(model, column_name, timestamp) %}
    select {{ column_name }}, {{ timestamp }}
    from {{ model }}
    where {{ column_name }} < {{ timestamp }}
{% endtest %}
