{#- The market's price of each feed's token, at each time one of its pools was read: the
    depth-weighted median of its pools' USD prices, over the pools whose latest reading is at most
    market_max_age_minutes old and not thin (nothing in range, or the sized quote losing more than
    thin_quote_slippage_bps), so one thin or stale pool cannot move it. Every pool read thin: a thin
    market, and no price (nor without a reference price). The median is one pool's price: whether
    its reference was off its own peg then comes with it, and the lowest and highest usable pool
    prices say whether the pools agreed (each through its own reference). -#}
with

prices as (
    select * from {{ ref('int_market__source_prices') }}
),

feeds as (
    select * from {{ ref('stg_chainlink__feeds') }}
),

priced_at as (
    select distinct
        chain,
        feed_pair,
        read_at as priced_at
    from prices
),

latest as (
    select
        priced_at.chain,
        priced_at.feed_pair,
        priced_at.priced_at,
        prices.pool_address,
        prices.read_at,
        prices.market_price_usd,
        prices.depth_usd,
        prices.in_range_liquidity,
        prices.quote_slippage_bps,
        prices.is_reference_off_peg,
        feeds.thin_quote_slippage_bps
    from priced_at
    inner join feeds
        on
            priced_at.chain = feeds.chain
            and priced_at.feed_pair = feeds.feed_pair
    inner join prices
        on
            priced_at.chain = prices.chain
            and priced_at.feed_pair = prices.feed_pair
            and priced_at.priced_at >= prices.read_at
            and dateadd('minute', -feeds.market_max_age_minutes, priced_at.priced_at) < prices.read_at
    qualify row_number() over (
        partition by priced_at.chain, priced_at.feed_pair, priced_at.priced_at, prices.pool_address
        order by prices.read_at desc
    ) = 1
),

thin as (
    select
        *,
        in_range_liquidity = 0
        or quote_slippage_bps is null
        or quote_slippage_bps > thin_quote_slippage_bps as is_thin
    from latest
),

judged as (
    select
        *,
        not is_thin and market_price_usd is not null and depth_usd > 0 as is_usable
    from thin
),

weighed as (
    select
        chain,
        feed_pair,
        priced_at,
        market_price_usd,
        is_reference_off_peg,
        depth_usd,
        sum(depth_usd) over (
            partition by chain, feed_pair, priced_at
            order by market_price_usd, pool_address
            rows between unbounded preceding and current row
        ) as depth_up_to_here,
        sum(depth_usd) over (partition by chain, feed_pair, priced_at) as usable_depth_usd
    from judged
    where is_usable
),

medians as (
    select
        chain,
        feed_pair,
        priced_at,
        market_price_usd,
        is_reference_off_peg,
        usable_depth_usd
    from weighed
    where depth_up_to_here >= usable_depth_usd / 2
    qualify row_number() over (partition by chain, feed_pair, priced_at order by depth_up_to_here) = 1
),

counted as (
    select
        chain,
        feed_pair,
        priced_at,
        count(*) as pools_read,
        count_if(is_usable) as pools_used,
        count_if(is_thin) as pools_thin,
        min(quote_slippage_bps) as best_quote_slippage_bps,
        min(iff(is_usable, market_price_usd, null)) as lowest_pool_price_usd,
        max(iff(is_usable, market_price_usd, null)) as highest_pool_price_usd
    from judged
    group by chain, feed_pair, priced_at
),

final as (
    select
        counted.chain,
        counted.feed_pair,
        counted.priced_at,
        medians.market_price_usd,
        counted.pools_read,
        counted.pools_used,
        counted.pools_thin,
        counted.best_quote_slippage_bps,
        counted.lowest_pool_price_usd,
        counted.highest_pool_price_usd,
        coalesce(medians.usable_depth_usd, 0) as usable_depth_usd,
        coalesce(medians.is_reference_off_peg, false) as is_reference_off_peg,
        counted.pools_thin = counted.pools_read as is_thin_market
    from counted
    left join medians
        on
            counted.chain = medians.chain
            and counted.feed_pair = medians.feed_pair
            and counted.priced_at = medians.priced_at
)

select * from final
