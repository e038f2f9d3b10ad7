{#- A depeg event's key: its feed (chain and proxy) and when it started, to the second. Built the same
    way whichever witness saw the event first, so an id stays put across rebuilds. -#}
{% macro depeg_event_id(chain, proxy_address, started_at) -%}
    {{ chain }} || ':' || {{ proxy_address }} || ':' || to_char({{ started_at }}, 'YYYY-MM-DD HH24:MI:SS')
{%- endmacro %}
