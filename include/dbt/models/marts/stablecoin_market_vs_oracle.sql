{#- The two witnesses side by side, each time the market was priced (every hour of the pools'
    readings): the market's price (int_market__feed_prices) and the oracle's round served then, the
    divergence between them in bps, divergent beyond the feed's deviation threshold plus its margin,
    and a silent oracle: divergent for silent_oracle_minutes or longer with no round published since
    the divergence began (the oracle lagging or frozen). A feed without pools has no rows here. -#}
with

market as (
    select * from {{ ref('int_market__feed_prices') }}
),

feeds as (
    select * from {{ ref('stg_chainlink__feeds') }}
),

served as (
    select * from {{ ref('int_chainlink__served_intervals') }}
),

compared as (
    select
        feeds.chain,
        feeds.proxy_address,
        feeds.feed_pair,
        feeds.symbol,
        market.priced_at,
        market.market_price_usd,
        market.usable_depth_usd,
        market.pools_read,
        market.pools_used,
        market.pools_thin,
        market.best_quote_slippage_bps,
        market.is_thin_market,
        market.is_reference_off_peg,
        served.round_id as oracle_round_id,
        served.served_from as oracle_served_from,
        served.price_usd as oracle_price_usd,
        feeds.peg_usd,
        feeds.silent_oracle_minutes,
        (served.price_usd / market.market_price_usd - 1) * 10000 as divergence_bps,
        feeds.deviation_threshold_pct * 100 + feeds.divergence_margin_bps as divergence_limit_bps,
        (market.market_price_usd / feeds.peg_usd - 1) * 10000 as market_deviation_bps,
        (served.price_usd / feeds.peg_usd - 1) * 10000 as oracle_deviation_bps,
        (market.lowest_pool_price_usd / feeds.peg_usd - 1) * 10000 as lowest_pool_deviation_bps,
        (market.highest_pool_price_usd / feeds.peg_usd - 1) * 10000 as highest_pool_deviation_bps
    from market
    inner join feeds
        on
            market.chain = feeds.chain
            and market.feed_pair = feeds.feed_pair
    left join served
        on
            market.chain = served.chain
            and market.feed_pair = served.feed_pair
            and market.priced_at >= served.served_from
            and market.priced_at < served.served_until
),

flagged as (
    select
        *,
        abs(divergence_bps) > divergence_limit_bps as is_divergent
    from compared
),

-- An unknown divergence (no market price, or no round served) neither starts nor ends a streak.
streaks as (
    select
        *,
        max(iff(is_divergent = false, priced_at, null)) over (
            partition by chain, proxy_address
            order by priced_at
            rows between unbounded preceding and current row
        ) as calm_at
    from flagged
),

sinces as (
    select
        *,
        min(iff(is_divergent, priced_at, null)) over (
            partition by chain, proxy_address, calm_at
        ) as first_divergent_at
    from streaks
),

final as (
    select
        chain,
        proxy_address,
        feed_pair,
        symbol,
        priced_at,
        market_price_usd,
        usable_depth_usd,
        pools_read,
        pools_used,
        pools_thin,
        best_quote_slippage_bps,
        is_thin_market,
        is_reference_off_peg,
        lowest_pool_deviation_bps,
        highest_pool_deviation_bps,
        oracle_round_id,
        oracle_served_from,
        oracle_price_usd,
        divergence_bps,
        divergence_limit_bps,
        market_deviation_bps,
        oracle_deviation_bps,
        coalesce(is_divergent, false) as is_divergent,
        iff(is_divergent, first_divergent_at, null) as divergent_since,
        coalesce(
            is_divergent
            and oracle_served_from <= first_divergent_at
            and datediff('minute', first_divergent_at, priced_at) >= silent_oracle_minutes,
            false
        ) as is_silent_oracle
    from sinces
)

select * from final
