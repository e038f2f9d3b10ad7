{#- Contiguous runs of served rounds beyond the warning threshold (gaps and islands), in the order
    the proxy served them. An event ends when the first round back within the threshold is served
    (the end of the last off-peg round's served interval); without one it is still open.
    The market witnesses it when the feed's market price (stablecoin_market_vs_oracle) was beyond
    the same threshold, on the same side of the peg, in a run of readings overlapping the event:
    seen by both, a confirmed depeg. -#}
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

feeds_with_pools as (
    select distinct
        chain,
        feed_pair
    from {{ ref('stg_market__sources') }}
),

-- The market's own runs beyond the warning threshold on one side of the peg; a reading without a
-- market price (a thin market) neither starts nor ends one.
market as (
    select
        market.chain,
        market.proxy_address,
        market.priced_at,
        market.market_deviation_bps,
        sign(market.market_deviation_bps) as side,
        abs(market.market_deviation_bps) >= feeds.warning_bps as is_off_peg
    from {{ ref('stablecoin_market_vs_oracle') }} as market
    inner join {{ ref('stg_chainlink__feeds') }} as feeds
        on
            market.chain = feeds.chain
            and market.proxy_address = feeds.proxy_address
    where market.market_price_usd is not null
),

market_flagged as (
    select
        *,
        lag(is_off_peg) over (partition by chain, proxy_address order by priced_at) as was_off_peg,
        lag(side) over (partition by chain, proxy_address order by priced_at) as last_side
    from market
),

market_islands as (
    select
        *,
        sum(case when is_off_peg and not (coalesce(was_off_peg, false) and last_side = side) then 1 else 0 end)
            over (
                partition by chain, proxy_address
                order by priced_at
                rows between unbounded preceding and current row
            ) as run_number
    from market_flagged
),

market_runs as (
    select
        chain,
        proxy_address,
        run_number,
        min(side) as side,
        min(priced_at) as crossed_at,
        max(priced_at) as last_off_at,
        max(abs(market_deviation_bps)) as worst_abs_deviation_bps
    from market_islands
    where is_off_peg
    group by chain, proxy_address, run_number
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

witnessed as (
    select
        events.chain,
        events.proxy_address,
        events.event_number,
        min(market_runs.crossed_at) as market_crossed_at,
        max(market_runs.worst_abs_deviation_bps) as market_worst_abs_deviation_bps
    from events
    inner join market_runs
        on
            events.chain = market_runs.chain
            and events.proxy_address = market_runs.proxy_address
            and sign(events.worst_deviation_bps) = market_runs.side
            and events.started_at <= market_runs.last_off_at
            and (events.ended_at is null or events.ended_at > market_runs.crossed_at)
    group by events.chain, events.proxy_address, events.event_number
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
        events.critical_bps,
        events.started_at as oracle_crossed_at,
        witnessed.market_crossed_at,
        witnessed.market_worst_abs_deviation_bps,
        case
            when witnessed.market_crossed_at is not null then 'both'
            when feeds_with_pools.feed_pair is not null then 'oracle'
            else 'oracle (no pools)'
        end as seen_by,
        witnessed.market_crossed_at is not null as is_confirmed
    from events
    inner join last_seen
        on
            events.chain = last_seen.chain
            and events.proxy_address = last_seen.proxy_address
    left join witnessed
        on
            events.chain = witnessed.chain
            and events.proxy_address = witnessed.proxy_address
            and events.event_number = witnessed.event_number
    left join feeds_with_pools
        on
            events.chain = feeds_with_pools.chain
            and events.feed_pair = feeds_with_pools.feed_pair
)

select * from final
