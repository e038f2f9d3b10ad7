-- Every feed-day covered by a daily load window (a whole UTC day) has exactly 24 hourly grid rows. A
-- near-real-time window of 24 hours that starts mid-day is not one: its first day has fewer hours.
-- Peg feeds only: a reference (ETH/USD) is loaded in windows too, but has no grid.
with

windows as (
    select * from {{ ref('stg_chainlink__load_windows') }}
),

feeds as (
    select * from {{ ref('stg_chainlink__feeds') }}
),

zscores as (
    select * from {{ ref('stablecoin_peg_zscore') }}
),

daily_windows as (
    select
        windows.chain,
        windows.proxy_address,
        to_date(windows.window_start) as day
    from windows
    inner join feeds
        on
            windows.chain = feeds.chain
            and windows.proxy_address = feeds.proxy_address
    where
        datediff('hour', windows.window_start, windows.window_end) = 24
        and windows.window_start = date_trunc('day', windows.window_start)
),

grid_rows as (
    select
        chain,
        proxy_address,
        day,
        count(*) as hours
    from zscores
    group by chain, proxy_address, day
)

select
    daily_windows.*,
    grid_rows.hours
from daily_windows
left join grid_rows
    on
        daily_windows.chain = grid_rows.chain
        and daily_windows.proxy_address = grid_rows.proxy_address
        and daily_windows.day = grid_rows.day
where coalesce(grid_rows.hours, 0) <> 24
