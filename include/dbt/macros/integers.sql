{#- The integers 0 .. 10^digits - 1 as column `n`, portable across Snowflake and the emulator: the
    cross join of `digits` copies of 0..9, one per decimal digit. -#}
{% macro integers(digits=4) -%}
    {%- set digit = '(select column1 as n from values (0), (1), (2), (3), (4), (5), (6), (7), (8), (9))' -%}
    select {% for i in range(digits) %}d{{ i }}.n * {{ 10 ** i }}{{ ' + ' if not loop.last }}{% endfor %} as n
    from {% for i in range(digits) %}{{ digit }} as d{{ i }}{{ ' cross join ' if not loop.last }}{% endfor %}
{%- endmacro %}
