with

source as (
    select * from {{ source('chainlink', 'chainlink_sequencer_rounds') }}
),

renamed as (
    select
        chain,
        proxy_address,
        round_id,
        is_down,
        changed_at
    from source
)

select * from renamed
