{#- Per feed and UTC day of every loaded window: the price in effect through the day (opening with
    the carry-in round), its extremes, rounds, time off peg, worst |z| and the worst status; beside
    it the market's worst deviation that day, and the witnesses of the depeg events overlapping the
    day (stablecoin_depeg_events, which matches the two by side and keeps out a market priced
    through an off-peg reference). -#}
with

health as (
    select * from {{ ref('stablecoin_peg_health') }}
),

intervals as (
    select * from {{ ref('int_chainlink__served_intervals') }}
),

zscores as (
    select * from {{ ref('stablecoin_peg_zscore') }}
),

market as (
    select * from {{ ref('stablecoin_market_vs_oracle') }}
),

events as (
    select * from {{ ref('stablecoin_depeg_events') }}
),

days as (
    select distinct
        chain,
        proxy_address,
        feed_pair,
        symbol,
        day,
        cast(day as timestamp_ntz) as day_start,
        dateadd('day', 1, cast(day as timestamp_ntz)) as day_end
    from zscores
),

in_effect as (
    -- each round is the feed's price over its served interval
    select
        health.*,
        intervals.served_until
    from health
    inner join intervals
        on
            health.chain = intervals.chain
            and health.proxy_address = intervals.proxy_address
            and health.round_id = intervals.round_id
),

day_segments as (
    select
        days.chain,
        days.proxy_address,
        days.day,
        in_effect.round_id,
        in_effect.served_from,
        in_effect.price_usd,
        in_effect.peg_status,
        in_effect.abs_deviation_bps,
        in_effect.warning_bps,
        in_effect.served_from >= days.day_start as is_round_of_day,
        datediff(
            'second',
            greatest(in_effect.served_from, days.day_start),
            least(in_effect.served_until, days.day_end)
        ) as seconds_in_effect
    from days
    inner join in_effect
        on
            days.chain = in_effect.chain
            and days.proxy_address = in_effect.proxy_address
            and days.day_end > in_effect.served_from
            and days.day_start < in_effect.served_until
),

ranked as (
    select
        *,
        row_number() over (
            partition by chain, proxy_address, day
            order by served_from asc, round_id asc
        ) as first_rank,
        row_number() over (
            partition by chain, proxy_address, day
            order by served_from desc, round_id desc
        ) as last_rank
    from day_segments
),

daily as (
    select
        chain,
        proxy_address,
        day,
        max(case when first_rank = 1 then price_usd end) as open_price_usd,
        max(case when last_rank = 1 then price_usd end) as close_price_usd,
        min(price_usd) as low_price_usd,
        max(price_usd) as high_price_usd,
        sum(case when is_round_of_day then 1 else 0 end) as rounds,
        sum(case when {{ is_off_peg() }} then seconds_in_effect else 0 end) as seconds_off_peg,
        max(abs_deviation_bps) as worst_abs_deviation_bps,
        max({{ status_rank('peg_status') }}) as worst_status_rank
    from ranked
    group by chain, proxy_address, day
),

daily_z as (
    select
        chain,
        proxy_address,
        day,
        max(abs(z_score)) as worst_abs_z_score
    from zscores
    group by chain, proxy_address, day
),

daily_market as (
    select
        chain,
        proxy_address,
        to_date(priced_at) as day,
        count(market_price_usd) as market_readings,
        max(abs(market_deviation_bps)) as market_worst_abs_deviation_bps
    from market
    group by chain, proxy_address, to_date(priced_at)
),

-- The day's strongest witness: both if an event overlapping it was confirmed, else the oracle's
-- (with or without pools), else the market's alone.
daily_events as (
    select
        days.chain,
        days.proxy_address,
        days.day,
        count(*) as depeg_events,
        max(
            case events.seen_by when 'both' then 3 when 'oracle' then 2 when 'oracle (no pools)' then 2 else 1 end
        ) as witness_rank,
        max(iff(events.seen_by = 'oracle (no pools)', 1, 0)) as has_no_pools
    from days
    inner join events
        on
            days.chain = events.chain
            and days.proxy_address = events.proxy_address
            and days.day_end > events.started_at
            and (events.ended_at is null or days.day_start < events.ended_at)
    group by days.chain, days.proxy_address, days.day
),

final as (
    select
        days.chain,
        days.proxy_address,
        days.feed_pair,
        days.symbol,
        days.day,
        daily.open_price_usd,
        daily.close_price_usd,
        daily.low_price_usd,
        daily.high_price_usd,
        coalesce(daily.rounds, 0) as rounds,
        coalesce(daily.seconds_off_peg, 0) as seconds_off_peg,
        daily.worst_abs_deviation_bps,
        daily_z.worst_abs_z_score,
        {{ status_of_rank('daily.worst_status_rank') }} as day_status,
        coalesce(daily_market.market_readings, 0) as market_readings,
        daily_market.market_worst_abs_deviation_bps,
        coalesce(daily_events.depeg_events, 0) as depeg_events,
        case daily_events.witness_rank
            when 3 then 'both'
            when 2 then iff(daily_events.has_no_pools = 1, 'oracle (no pools)', 'oracle')
            when 1 then 'market'
        end as seen_by,
        coalesce(daily_events.witness_rank = 3, false) as is_confirmed
    from days
    left join daily
        on
            days.chain = daily.chain
            and days.proxy_address = daily.proxy_address
            and days.day = daily.day
    left join daily_z
        on
            days.chain = daily_z.chain
            and days.proxy_address = daily_z.proxy_address
            and days.day = daily_z.day
    left join daily_market
        on
            days.chain = daily_market.chain
            and days.proxy_address = daily_market.proxy_address
            and days.day = daily_market.day
    left join daily_events
        on
            days.chain = daily_events.chain
            and days.proxy_address = daily_events.proxy_address
            and days.day = daily_events.day
)

select * from final
