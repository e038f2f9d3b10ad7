{#- Models go to <target schema>_<custom schema> (ANALYTICS_STAGING, ANALYTICS_MARTS), so a test
    run with another target schema never touches the real marts. -#}
{% macro generate_schema_name(custom_schema_name, node) -%}
    {%- if custom_schema_name is none -%}
        {{ target.schema }}
    {%- else -%}
        {{ target.schema }}_{{ custom_schema_name | trim | upper }}
    {%- endif -%}
{%- endmacro %}
