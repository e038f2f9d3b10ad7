with

source as (
    select * from {{ source('chainlink', 'chainlink_feeds') }}
),

renamed as (
    select
        chain,
        proxy_address,
        feed_pair,
        symbol,
        description as feed_description,
        decimals,
        heartbeat_seconds,
        heartbeat_grace_seconds,
        warning_bps,
        critical_bps,
        hysteresis_bps,
        divergence_margin_bps,
        market_max_age_minutes,
        thin_quote_slippage_bps,
        silent_oracle_minutes,
        cast(deviation_threshold_pct as float) as deviation_threshold_pct,
        cast(peg_usd as number(38, 18)) as peg_usd,
        peg_reference_pair
    from source
)

select * from renamed
