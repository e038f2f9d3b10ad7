with

source as (
    select * from {{ source('market', 'market_sources') }}
),

renamed as (
    select
        chain,
        feed_pair,
        pool_address,
        reference_pair,
        reference_proxy as reference_proxy_address,
        token_is_token0
    from source
)

select * from renamed
