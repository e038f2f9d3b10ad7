{#- healthy / warning / critical from an absolute deviation in basis points (thresholds are vars). -#}
{% macro peg_status(abs_deviation_bps) -%}
    case
        when {{ abs_deviation_bps }} >= {{ var('critical_bps') }} then 'critical'
        when {{ abs_deviation_bps }} >= {{ var('warning_bps') }} then 'warning'
        else 'healthy'
    end
{%- endmacro %}

{#- Rank of a status, to take the worst of several. -#}
{% macro status_rank(status) -%}
    case {{ status }} when 'critical' then 2 when 'warning' then 1 else 0 end
{%- endmacro %}
