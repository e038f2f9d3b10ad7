with

source as (
    select * from {{ source('market', 'market_pool_readings') }}
),

renamed as (
    select
        chain,
        pool_address,
        read_at,
        block_number,
        sqrt_price_x96 as sqrt_price_x96_raw,
        tick,
        twap_tick,
        cast(price as number(38, 18)) as price_token1_per_token0,
        liquidity as liquidity_raw,
        cast(liquidity as double) as in_range_liquidity,
        quote_tokens,
        cast(sell_token0_out as double) as sell_token0_out_raw,
        cast(sell_token1_out as double) as sell_token1_out_raw,
        loaded_at,
        airflow_run_id
    from source
)

select * from renamed
