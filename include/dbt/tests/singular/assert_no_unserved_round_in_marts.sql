-- A round the proxy never served, or that is not a price, is never in a mart.
with

health as (
    select * from {{ ref('stablecoin_peg_health') }}
),

rejections as (
    select * from {{ source('chainlink', 'chainlink_round_rejections') }}
)

select
    health.chain,
    health.proxy_address,
    health.round_id,
    rejections.reason
from health
inner join rejections
    on
        health.chain = rejections.chain
        and health.proxy_address = rejections.proxy_address
        and health.round_id = rejections.round_id
