with

source as (
    select * from {{ source('chainlink', 'chainlink_rounds') }}
),

renamed as (
    select
        chain,
        chain_id,
        proxy_address,
        feed_pair,
        round_id,
        phase_id,
        aggregator_round_id,
        answer as answer_raw,
        decimals,
        cast(price as number(38, 18)) as price_usd,
        started_at,
        updated_at,
        served_from,
        seconds_since_previous,
        is_heartbeat_exceeded,
        block_number,
        loaded_at,
        airflow_run_id
    from source
)

select * from renamed
