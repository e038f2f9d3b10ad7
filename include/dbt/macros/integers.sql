{#- The integers 0 .. 10^digits - 1 as column `n`, portable across Snowflake and the emulator. -#}
{% macro integers(digits=4) -%}
    select
        {% for i in range(digits) %}d{{ i }}.n * {{ 10 ** i }}{% if not loop.last %} + {% endif %}{% endfor %} as n
    from
        {% for i in range(digits) -%}
        (select column1 as n from values (0), (1), (2), (3), (4), (5), (6), (7), (8), (9)) as d{{ i }}
        {%- if not loop.last %} cross join {% endif %}
        {% endfor %}
{%- endmacro %}
