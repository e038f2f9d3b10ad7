with

source as (
    select * from {{ source('chainlink', 'chainlink_chains') }}
),

renamed as (
    select
        chain,
        chain_id,
        sequencer_proxy_address,
        grace_period_seconds
    from source
)

select * from renamed
