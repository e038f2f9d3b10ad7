{#- healthy / warning / critical from an absolute deviation in basis points and the feed's own
    thresholds (columns or expressions: registry -> CHAINLINK_FEEDS -> stg_chainlink__feeds). The
    status of one price, without hysteresis: the alerts add the band on the served series. -#}
{% macro peg_status(abs_deviation_bps, warning_bps='warning_bps', critical_bps='critical_bps') -%}
    case
        when {{ abs_deviation_bps }} >= {{ critical_bps }} then 'critical'
        when {{ abs_deviation_bps }} >= {{ warning_bps }} then 'warning'
        else 'healthy'
    end
{%- endmacro %}

{#- Rank of a status, to take the worst of several. -#}
{% macro status_rank(status) -%}
    case {{ status }} when 'critical' then 2 when 'warning' then 1 else 0 end
{%- endmacro %}
