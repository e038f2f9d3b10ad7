{#- Rows where the expression is false fail the test (dbt packages are not fetched here). -#}
{% test expression_is_true(model, column_name=none, expression=none) %}
select * from {{ model }} where not ({{ expression }})
{% endtest %}
