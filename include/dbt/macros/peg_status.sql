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

{#- The status of a rank (status_rank's inverse); no_data for a null rank (no price). -#}
{% macro status_of_rank(rank) -%}
    case {{ rank }} when 2 then 'critical' when 1 then 'warning' when 0 then 'healthy' else 'no_data' end
{%- endmacro %}

{#- Off peg: at or beyond the feed's warning threshold (a warning or critical status). Depeg events
    are runs of such rounds; the daily summary counts the seconds such a price was in effect. -#}
{% macro is_off_peg(abs_deviation_bps='abs_deviation_bps', warning_bps='warning_bps') -%}
    ({{ abs_deviation_bps }} >= {{ warning_bps }})
{%- endmacro %}
