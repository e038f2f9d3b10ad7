with

source as (
    select * from {{ source('market', 'market_pools') }}
),

renamed as (
    select
        chain,
        pool_address,
        dex,
        fee as fee_hundredths_bp,
        token0_symbol,
        token0_address,
        token0_decimals,
        token1_symbol,
        token1_address,
        token1_decimals
    from source
)

select * from renamed
