{#
  Feature contract: no feature row claims to be true later than now. Timestamps are
  naive UTC throughout the feature store, so "now" is taken in UTC as well.

    columns:
      - name: event_timestamp
        data_tests: [featurestore.feature_timestamp_not_in_future]
#}
{% test feature_timestamp_not_in_future(model, column_name) %}
    select {{ column_name }}
    from {{ model }}
    where {{ column_name }} > {{ featurestore.feature_store_utc_now() }}
{% endtest %}
