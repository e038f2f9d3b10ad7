{#- Per feed and UTC day of every loaded window: the price in effect through the day (opening with
    the carry-in round), its extremes, rounds, time off peg, worst |z| and the worst status. -#}
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
        {{ status_of_rank('daily.worst_status_rank') }} as day_status
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
)

select * from final
