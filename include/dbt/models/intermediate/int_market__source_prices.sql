{#- Each pool reading, once per feed the pool prices: the feed's token in the pool's other token,
    and in USD through the source's reference feed at the reading's time (the reference round whose
    served interval holds read_at). Null in USD when the reference has no served round there (not
    loaded, or before its first round). A reference that is itself a pegged feed of the registry
    may be off its own peg then: that price is then no independent witness of this feed's peg. -#}
with

readings as (
    select * from {{ ref('stg_market__pool_readings') }}
),

sources as (
    select * from {{ ref('stg_market__sources') }}
),

pools as (
    select * from {{ ref('stg_market__pools') }}
),

reference_intervals as (
    select * from {{ ref('int_chainlink__served_intervals') }}
),

pegged_references as (
    select * from {{ ref('stg_chainlink__feeds') }}
),

oriented as (
    select
        sources.chain,
        sources.feed_pair,
        sources.pool_address,
        sources.reference_pair,
        readings.read_at,
        readings.block_number,
        readings.tick,
        readings.in_range_liquidity,
        readings.quote_tokens,
        iff(sources.token_is_token0, pools.token0_symbol, pools.token1_symbol) as token_symbol,
        iff(sources.token_is_token0, pools.token1_symbol, pools.token0_symbol) as paired_symbol,
        iff(
            sources.token_is_token0,
            readings.price_token1_per_token0,
            1 / readings.price_token1_per_token0
        ) as price_in_paired,
        -- The feed's token in the pool's virtual reserves at its price (L / sqrt(P) for token0,
        -- L * sqrt(P) for token1, P = 1.0001^tick in raw units): what a trade meets near the price.
        iff(
            sources.token_is_token0,
            readings.in_range_liquidity / power(1.0001, readings.tick / 2) / power(10, pools.token0_decimals),
            readings.in_range_liquidity * power(1.0001, readings.tick / 2) / power(10, pools.token1_decimals)
        ) as virtual_reserve_tokens,
        iff(
            sources.token_is_token0,
            readings.sell_token0_out_raw / power(10, pools.token1_decimals),
            readings.sell_token1_out_raw / power(10, pools.token0_decimals)
        ) / readings.quote_tokens as quote_price_in_paired
    from sources
    inner join pools
        on
            sources.chain = pools.chain
            and sources.pool_address = pools.pool_address
    inner join readings
        on
            sources.chain = readings.chain
            and sources.pool_address = readings.pool_address
),

final as (
    select
        oriented.chain,
        oriented.feed_pair,
        oriented.pool_address,
        oriented.token_symbol,
        oriented.paired_symbol,
        oriented.read_at,
        oriented.block_number,
        oriented.tick,
        oriented.in_range_liquidity,
        oriented.virtual_reserve_tokens,
        oriented.price_in_paired,
        oriented.reference_pair,
        reference_intervals.round_id as reference_round_id,
        reference_intervals.price_usd as reference_price_usd,
        oriented.quote_tokens,
        oriented.quote_price_in_paired,
        oriented.price_in_paired * reference_intervals.price_usd as market_price_usd,
        oriented.virtual_reserve_tokens * oriented.price_in_paired * reference_intervals.price_usd as depth_usd,
        oriented.quote_price_in_paired * reference_intervals.price_usd as quote_price_usd,
        (1 - oriented.quote_price_in_paired / oriented.price_in_paired) * 10000 as quote_slippage_bps,
        coalesce(
            {{ is_off_peg(
                'abs(reference_intervals.price_usd / pegged_references.peg_usd - 1) * 10000',
                'pegged_references.warning_bps'
            ) }},
            false
        ) as is_reference_off_peg
    from oriented
    left join reference_intervals
        on
            oriented.chain = reference_intervals.chain
            and oriented.reference_pair = reference_intervals.feed_pair
            and oriented.read_at >= reference_intervals.served_from
            and oriented.read_at < reference_intervals.served_until
    left join pegged_references
        on
            oriented.chain = pegged_references.chain
            and oriented.reference_pair = pegged_references.feed_pair
)

select * from final
