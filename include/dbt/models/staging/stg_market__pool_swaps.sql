with

source as (
    select * from {{ source('market', 'market_pool_swaps') }}
),

renamed as (
    select
        chain,
        pool_address,
        block_number,
        log_index,
        transaction_hash,
        swapped_at,
        cast(amount0 as double) as amount0_raw,
        cast(amount1 as double) as amount1_raw,
        sqrt_price_x96 as sqrt_price_x96_raw,
        tick,
        cast(price as number(38, 18)) as price_token1_per_token0,
        cast(liquidity as double) as in_range_liquidity,
        loaded_at,
        airflow_run_id
    from source
)

select * from renamed
