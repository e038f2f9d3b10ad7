with

source as (
    select * from {{ source('chainlink', 'chainlink_phases') }}
),

renamed as (
    select
        chain,
        proxy_address,
        feed_pair,
        phase_id,
        aggregator_address,
        activated_block,
        activated_at,
        activation_source
    from source
)

select * from renamed
