{#- Contiguous runs of served rounds beyond the warning threshold (gaps and islands), in the order
    the proxy served them. An event ends when the first round back within the threshold is served
    (the end of the last off-peg round's served interval); without one it is still open.
    The market witnesses with its runs of readings beyond the same threshold on one side of the peg,
    but only a run with a witness reading: every usable pool beyond the threshold on the run's side
    (one pool priced through a lagging reference, ETH/USD moving 0.5 % before it publishes, is not
    the market), and the market price not through a reference that was itself off its peg (such a
    price carries another coin's depeg: on 2022-05-12 USDC's only pool was priced through USDT/USD
    at 0.95). A reading, not the run: when USDC falls, DAI follows it, and the readings whose median
    pool is DAI/USDC through DAI/USD do not void those through USDT/USD and ETH/USD. Such a run
    overlapping the event on its side makes it seen by both, a confirmed depeg; one that overlaps no
    oracle event is an event of its own, seen by the market alone (the oracle lagging, frozen or not
    yet moved). -#}
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
-- market price (a thin market) neither starts nor ends one. A reading is a witness when every usable
-- pool stood beyond the threshold on its side and its price came through no off-peg reference.
market as (
    select
        market.chain,
        market.proxy_address,
        market.feed_pair,
        market.symbol,
        market.priced_at,
        market.market_price_usd,
        market.market_deviation_bps,
        feeds.warning_bps,
        feeds.critical_bps,
        sign(market.market_deviation_bps) as side,
        abs(market.market_deviation_bps) >= feeds.warning_bps as is_off_peg,
        coalesce(
            not market.is_reference_off_peg
            and (
                (sign(market.market_deviation_bps) < 0 and market.highest_pool_deviation_bps <= -feeds.warning_bps)
                or (sign(market.market_deviation_bps) > 0 and market.lowest_pool_deviation_bps >= feeds.warning_bps)
            ),
            false
        ) as is_witness
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
        lag(side) over (partition by chain, proxy_address order by priced_at) as last_side,
        lead(priced_at) over (partition by chain, proxy_address order by priced_at) as next_priced_at
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

market_ranked as (
    select
        *,
        row_number() over (
            partition by chain, proxy_address, run_number
            order by abs(market_deviation_bps) desc, priced_at asc
        ) as severity_rank,
        row_number() over (
            partition by chain, proxy_address, run_number
            order by priced_at desc
        ) as recency_rank
    from market_islands
    where is_off_peg
),

-- A run ends at the next priced reading (back within the threshold, or beyond it on the other side).
market_runs as (
    select
        chain,
        proxy_address,
        feed_pair,
        symbol,
        warning_bps,
        critical_bps,
        run_number,
        min(side) as side,
        min(priced_at) as crossed_at,
        max(priced_at) as last_off_at,
        max(case when recency_rank = 1 then next_priced_at end) as ended_at,
        max(case when severity_rank = 1 then market_price_usd end) as worst_price_usd,
        max(case when severity_rank = 1 then market_deviation_bps end) as worst_deviation_bps,
        max(abs(market_deviation_bps)) as worst_abs_deviation_bps,
        count_if(is_witness) as witness_readings
    from market_ranked
    group by chain, proxy_address, feed_pair, symbol, warning_bps, critical_bps, run_number
),

-- The runs the market witnesses with (a witness reading in them): only these confirm an oracle
-- event or make an event of their own.
market_witness_runs as (
    select * from market_runs
    where witness_readings > 0
),

last_seen as (
    select
        chain,
        proxy_address,
        max(served_from) as last_served_at
    from health
    group by chain, proxy_address
),

market_last_seen as (
    select
        chain,
        proxy_address,
        max(priced_at) as last_priced_at
    from market
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
    inner join market_witness_runs as market_runs
        on
            events.chain = market_runs.chain
            and events.proxy_address = market_runs.proxy_address
            and sign(events.worst_deviation_bps) = market_runs.side
            and events.started_at <= market_runs.last_off_at
            and (events.ended_at is null or events.ended_at > market_runs.crossed_at)
    group by events.chain, events.proxy_address, events.event_number
),

oracle_seen as (
    select
        {{ depeg_event_id('events.chain', 'events.proxy_address', 'events.started_at') }} as depeg_event_id,
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
),

-- The market's witness runs that overlap no oracle event, on either side.
market_only as (
    select market_runs.*
    from market_witness_runs as market_runs
    left join events
        on
            market_runs.chain = events.chain
            and market_runs.proxy_address = events.proxy_address
            and (market_runs.ended_at is null or market_runs.ended_at > events.started_at)
            and (events.ended_at is null or market_runs.crossed_at < events.ended_at)
    where events.event_number is null
),

market_seen as (
    select
        {{ depeg_event_id('market_only.chain', 'market_only.proxy_address', 'market_only.crossed_at') }}
            as depeg_event_id,
        market_only.chain,
        market_only.proxy_address,
        market_only.feed_pair,
        market_only.symbol,
        market_only.crossed_at as started_at,
        market_only.ended_at,
        market_only.ended_at is null as is_open,
        datediff(
            'second', market_only.crossed_at, coalesce(market_only.ended_at, market_last_seen.last_priced_at)
        ) as duration_seconds,
        0 as rounds_off_peg,
        market_only.worst_price_usd,
        market_only.worst_deviation_bps,
        market_only.worst_abs_deviation_bps,
        {{ peg_status('market_only.worst_abs_deviation_bps', 'market_only.warning_bps', 'market_only.critical_bps') }}
            as worst_status,
        market_only.warning_bps,
        market_only.critical_bps,
        cast(null as timestamp_ntz) as oracle_crossed_at,
        market_only.crossed_at as market_crossed_at,
        market_only.worst_abs_deviation_bps as market_worst_abs_deviation_bps,
        'market' as seen_by,
        false as is_confirmed
    from market_only
    inner join market_last_seen
        on
            market_only.chain = market_last_seen.chain
            and market_only.proxy_address = market_last_seen.proxy_address
),

final as (
    select * from oracle_seen
    union all
    select * from market_seen
)

select * from final
