{#- Contiguous runs of served rounds beyond the warning threshold (gaps and islands), in the order
    the proxy served them. An event ends when the first round back within the threshold is served;
    without one it is still open. -#}
with

health as (
    select * from {{ ref('stablecoin_peg_health') }}
),

flagged as (
    select
        *,
        abs_deviation_bps >= warning_bps as is_off_peg,
        lag(abs_deviation_bps >= warning_bps) over (
            partition by chain, proxy_address order by served_from, round_id
        ) as was_off_peg,
        lead(served_from) over (partition by chain, proxy_address order by served_from, round_id) as next_served_from
    from health
),

islands as (
    select
        *,
        sum(case when is_off_peg and not coalesce(was_off_peg, false) then 1 else 0 end) over (
            partition by chain, proxy_address order by served_from, round_id
            rows between unbounded preceding and current row
        ) as event_number
    from flagged
),

off_peg as (
    select * from islands where is_off_peg
),

ranked as (
    select
        *,
        row_number() over (
            partition by chain, proxy_address, event_number order by abs_deviation_bps desc, served_from
        ) as severity_rank,
        row_number() over (
            partition by chain, proxy_address, event_number order by served_from desc, round_id desc
        ) as recency_rank
    from off_peg
),

last_seen as (
    select chain, proxy_address, max(served_from) as last_served_at
    from health
    group by chain, proxy_address
),

events as (
    select
        ranked.chain,
        ranked.proxy_address,
        ranked.feed_pair,
        ranked.symbol,
        ranked.event_number,
        ranked.warning_bps,
        ranked.critical_bps,
        min(ranked.served_from) as started_at,
        max(case when ranked.recency_rank = 1 then ranked.next_served_from end) as ended_at,
        count(*) as rounds_off_peg,
        max(case when ranked.severity_rank = 1 then ranked.price_usd end) as worst_price_usd,
        max(case when ranked.severity_rank = 1 then ranked.deviation_bps end) as worst_deviation_bps,
        max(ranked.abs_deviation_bps) as worst_abs_deviation_bps
    from ranked
    group by 1, 2, 3, 4, 5, 6, 7
),

final as (
    select
        events.chain || ':' || events.proxy_address || ':' || to_char(events.started_at, 'YYYY-MM-DD HH24:MI:SS') as depeg_event_id,
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
        {{ peg_status('events.worst_abs_deviation_bps', 'events.warning_bps', 'events.critical_bps') }} as worst_status,
        events.warning_bps,
        events.critical_bps
    from events
    inner join last_seen
        on events.chain = last_seen.chain and events.proxy_address = last_seen.proxy_address
)

select * from final
