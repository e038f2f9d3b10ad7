{#- Contiguous runs of served rounds beyond the warning threshold (gaps and islands), in the order
    the proxy served them. An event ends when the first round back within the threshold is served
    (the end of the last off-peg round's served interval); without one it is still open. -#}
with

health as (
    select * from {{ ref('stablecoin_peg_health') }}
),

intervals as (
    select * from {{ ref('int_chainlink__served_intervals') }}
),

served as (
    select
        health.*,
        intervals.next_served_from,
        {{ is_off_peg('health.abs_deviation_bps', 'health.warning_bps') }} as is_off_peg
    from health
    inner join intervals
        on
            health.chain = intervals.chain
            and health.proxy_address = intervals.proxy_address
            and health.round_id = intervals.round_id
),

flagged as (
    select
        *,
        lag(is_off_peg) over (
            partition by chain, proxy_address
            order by served_from, round_id
        ) as was_off_peg
    from served
),

islands as (
    select
        *,
        sum(case when is_off_peg and not coalesce(was_off_peg, false) then 1 else 0 end) over (
            partition by chain, proxy_address
            order by served_from, round_id
            rows between unbounded preceding and current row
        ) as event_number
    from flagged
),

off_peg as (
    select * from islands
    where is_off_peg
),

ranked as (
    select
        *,
        row_number() over (
            partition by chain, proxy_address, event_number
            order by abs_deviation_bps desc, served_from asc
        ) as severity_rank,
        row_number() over (
            partition by chain, proxy_address, event_number
            order by served_from desc, round_id desc
        ) as recency_rank
    from off_peg
),

last_seen as (
    select
        chain,
        proxy_address,
        max(served_from) as last_served_at
    from health
    group by chain, proxy_address
),

events as (
    select
        chain,
        proxy_address,
        feed_pair,
        symbol,
        event_number,
        warning_bps,
        critical_bps,
        min(served_from) as started_at,
        max(case when recency_rank = 1 then next_served_from end) as ended_at,
        count(*) as rounds_off_peg,
        max(case when severity_rank = 1 then price_usd end) as worst_price_usd,
        max(case when severity_rank = 1 then deviation_bps end) as worst_deviation_bps,
        max(abs_deviation_bps) as worst_abs_deviation_bps
    from ranked
    group by chain, proxy_address, feed_pair, symbol, event_number, warning_bps, critical_bps
),

final as (
    select
        events.chain
        || ':' || events.proxy_address
        || ':' || to_char(events.started_at, 'YYYY-MM-DD HH24:MI:SS') as depeg_event_id,
        events.chain,
        events.proxy_address,
        events.feed_pair,
        events.symbol,
        events.started_at,
        events.ended_at,
        events.ended_at is null as is_open,
        datediff('second', events.started_at, coalesce(events.ended_at, last_seen.last_served_at)) as duration_seconds,
        events.rounds_off_peg,
        events.worst_price_usd,
        events.worst_deviation_bps,
        events.worst_abs_deviation_bps,
        {{ peg_status('events.worst_abs_deviation_bps', 'events.warning_bps', 'events.critical_bps') }}
            as worst_status,
        events.warning_bps,
        events.critical_bps
    from events
    inner join last_seen
        on
            events.chain = last_seen.chain
            and events.proxy_address = last_seen.proxy_address
)

select * from final
