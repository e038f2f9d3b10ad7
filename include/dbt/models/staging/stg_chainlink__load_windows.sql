with

source as (
    select * from {{ source('chainlink', 'chainlink_load_windows') }}
),

renamed as (
    select
        chain,
        proxy_address,
        feed_pair,
        window_start,
        window_end,
        carry_in_round_id,
        rounds_in_window,
        rounds_rejected,
        block_number,
        loaded_at
    from source
)

select * from renamed
