{#
  Type names the feature models cast to, which not every engine spells alike: Spark has
  no `double precision`, and its `varchar` needs a length.
#}
{% macro feature_store_double() %}
    {{ return(adapter.dispatch('feature_store_double', 'featurestore')()) }}
{% endmacro %}

{% macro default__feature_store_double() %}double precision{% endmacro %}

{% macro spark__feature_store_double() %}double{% endmacro %}

{% macro feature_store_text() %}
    {{ return(adapter.dispatch('feature_store_text', 'featurestore')()) }}
{% endmacro %}

{% macro default__feature_store_text() %}varchar{% endmacro %}

{% macro spark__feature_store_text() %}string{% endmacro %}
