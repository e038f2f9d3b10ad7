{#- Hourly grid per feed over every loaded window, last known price carried forward, then rolling
    24-hour statistics over the grid (so irregular Chainlink updates do not bias them). -#}
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
    -- a grid row sorts after every round updated before the end of its hour
    select
        chain,
        proxy_address,
        dateadd('hour', 1, hour_at) as event_at,
        0 as is_round,
        null as round_id,
        cast(null as float) as price_usd,
        hour_at
    from grid
    union all
    select
        chain,
        proxy_address,
        updated_at as event_at,
        1 as is_round,
        round_id,
        cast(price_usd as float) as price_usd,
        null as hour_at
    from rounds
),

carried as (
    select
        chain,
        proxy_address,
        hour_at,
        is_round,
        last_value(price_usd ignore nulls) over (
            partition by chain, proxy_address
            order by event_at, is_round, round_id
            rows between unbounded preceding and current row
        ) as price_usd
    from events
),

hourly as (
    select
        chain,
        proxy_address,
        hour_at,
        price_usd
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
        avg(price_usd) {{ rolling_24h }} as rolling_mean_24h,
        stddev_samp(price_usd) {{ rolling_24h }} as rolling_stddev_24h,
        count(price_usd) {{ rolling_24h }} as observations_24h
    from hourly
),

scored as (
    select
        rolling.*,
        case
            when price_usd is null or observations_24h < 2 or rolling_stddev_24h is null then null
            when rolling_stddev_24h = 0 then null
            else (price_usd - rolling_mean_24h) / rolling_stddev_24h
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
        scored.price_usd,
        scored.price_usd is null as is_before_first_round,
        scored.rolling_mean_24h,
        scored.rolling_stddev_24h,
        scored.observations_24h,
        coalesce(scored.rolling_stddev_24h = 0, false) as is_flat_window,
        scored.z_score,
        coalesce(abs(scored.z_score) > {{ var('unusual_abs_z') }}, false) as is_unusual,
        coalesce(abs(scored.z_score) > {{ var('outlier_abs_z') }}, false) as is_outlier
    from scored
    inner join feeds
        on scored.chain = feeds.chain and scored.proxy_address = feeds.proxy_address
)

select * from final
