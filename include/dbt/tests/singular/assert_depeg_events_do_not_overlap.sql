-- Two events of one feed never overlap in time.
with

events as (
    select * from {{ ref('stablecoin_depeg_events') }}
)

select
    a.depeg_event_id,
    b.depeg_event_id as overlapping_event_id
from events as a
inner join events as b
    on
        a.chain = b.chain
        and a.proxy_address = b.proxy_address
        and a.depeg_event_id < b.depeg_event_id
        and a.started_at < coalesce(b.ended_at, b.started_at)
        and b.started_at < coalesce(a.ended_at, a.started_at)
