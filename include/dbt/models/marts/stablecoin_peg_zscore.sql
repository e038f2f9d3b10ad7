{#- Hourly grid per feed over every loaded window, last known price carried forward, then rolling
    24-hour statistics over the grid (so irregular Chainlink updates do not bias them).
    Statistics are computed on the answer's offset from the peg in the feed's own units (an exact
    integer), then scaled back: z-scores of tiny moves stay exact in floating point. -#}
with

rounds as (
    select * from {{ ref('stg_chainlink__rounds') }}
),

windows as (
    select * from {{ ref('stg_chainlink__load_windows') }}
),

feeds as (
    select * from {{ ref('stg_chainlink__feeds') }}
),

hour_offsets as (
    {{ integers(4) }}
),

grid as (
    select distinct
        windows.chain,
        windows.proxy_address,
        dateadd('hour', hour_offsets.n, date_trunc('hour', windows.window_start)) as hour_at
    from windows
    inner join hour_offsets
        on dateadd('hour', hour_offsets.n, date_trunc('hour', windows.window_start)) < windows.window_end
),

events as (
    -- a grid row sorts after every round served from before the end of its hour
    select
        chain,
        proxy_address,
        dateadd('hour', 1, hour_at) as event_at,
        0 as is_round,
        null as round_id,
        cast(null as float) as peg_offset_units,
        hour_at
    from grid
    union all
    select
        rounds.chain,
        rounds.proxy_address,
        rounds.served_from as event_at,
        1 as is_round,
        rounds.round_id,
        cast(rounds.answer_raw - feeds.peg_usd * power(10, rounds.decimals) as float) as peg_offset_units,
        null as hour_at
    from rounds
    inner join feeds
        on
            rounds.chain = feeds.chain
            and rounds.proxy_address = feeds.proxy_address
),

carried as (
    select
        chain,
        proxy_address,
        hour_at,
        is_round,
        last_value(peg_offset_units ignore nulls) over (
            partition by chain, proxy_address
            order by event_at, is_round, round_id
            rows between unbounded preceding and current row
        ) as peg_offset_units
    from events
),

hourly as (
    select
        chain,
        proxy_address,
        hour_at,
        peg_offset_units
    from carried
    where is_round = 0
),

rolling as (
    select
        *,
        {%- set rolling_24h -%}
            over (
                partition by chain, proxy_address
                order by hour_at
                range between interval '23 hours' preceding and current row
            )
        {%- endset %}
        avg(peg_offset_units) {{ rolling_24h }} as mean_offset_units,
        stddev_samp(peg_offset_units) {{ rolling_24h }} as stddev_offset_units,
        min(peg_offset_units) {{ rolling_24h }} as min_offset_units,
        max(peg_offset_units) {{ rolling_24h }} as max_offset_units,
        count(peg_offset_units) {{ rolling_24h }} as observations_24h
    from hourly
),

scored as (
    select
        *,
        min_offset_units = max_offset_units as is_flat_window,
        case
            when peg_offset_units is null or observations_24h < 2 then null
            when min_offset_units = max_offset_units then null  -- zero standard deviation
            else (peg_offset_units - mean_offset_units) / stddev_offset_units
        end as z_score
    from rolling
),

final as (
    select
        scored.chain,
        scored.proxy_address,
        feeds.feed_pair,
        feeds.symbol,
        scored.hour_at,
        to_date(scored.hour_at) as day,
        cast(feeds.peg_usd as float) + scored.peg_offset_units / power(10, feeds.decimals) as price_usd,
        scored.peg_offset_units is null as is_before_first_round,
        cast(feeds.peg_usd as float) + scored.mean_offset_units / power(10, feeds.decimals) as rolling_mean_24h,
        scored.stddev_offset_units / power(10, feeds.decimals) as rolling_stddev_24h,
        scored.observations_24h,
        coalesce(scored.is_flat_window, false) as is_flat_window,
        scored.z_score,
        coalesce(abs(scored.z_score) > {{ var('unusual_abs_z') }}, false) as is_unusual,
        coalesce(abs(scored.z_score) > {{ var('outlier_abs_z') }}, false) as is_outlier
    from scored
    inner join feeds
        on
            scored.chain = feeds.chain
            and scored.proxy_address = feeds.proxy_address
)

select * from final
