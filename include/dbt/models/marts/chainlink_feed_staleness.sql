{#- Per feed: the served price's age against its heartbeat plus grace, as of the end of the loaded
    data, the phase being served, and the heartbeat misses measured on the served series. -#}
with

health as (
    select * from {{ ref('stablecoin_peg_health') }}
),

intervals as (
    select * from {{ ref('int_chainlink__served_intervals') }}
),

feeds as (
    select * from {{ ref('stg_chainlink__feeds') }}
),

windows as (
    select * from {{ ref('stg_chainlink__load_windows') }}
),

phases as (
    select * from {{ ref('stg_chainlink__phases') }}
),

chains as (
    select * from {{ ref('stg_chainlink__chains') }}
),

sequencer as (
    select * from {{ ref('int_chainlink__sequencer_status') }}
),

loaded as (
    -- per feed, not from the served intervals: a feed with windows but no round yet is stale
    select
        chain,
        proxy_address,
        max(window_end) as data_as_of
    from windows
    group by chain, proxy_address
),

serving as (
    -- the phase the proxy serves at the end of the loaded data
    select
        phases.chain,
        phases.proxy_address,
        phases.phase_id,
        phases.activated_at
    from phases
    inner join loaded
        on
            phases.chain = loaded.chain
            and phases.proxy_address = loaded.proxy_address
    where phases.activated_at < loaded.data_as_of
    qualify row_number() over (
        partition by phases.chain, phases.proxy_address
        order by phases.phase_id desc
    ) = 1
),

sequencer_now as (
    -- on an L2, its sequencer's status at the end of the feed's loaded data
    select
        loaded.chain,
        loaded.proxy_address,
        sequencer.sequencer_status,
        sequencer.status_from
    from loaded
    inner join sequencer
        on
            loaded.chain = sequencer.chain
            and loaded.data_as_of > sequencer.status_from
            and (sequencer.status_until is null or loaded.data_as_of <= sequencer.status_until)
    qualify row_number() over (
        partition by loaded.chain, loaded.proxy_address
        order by sequencer.status_from desc
    ) = 1
),

updates as (
    select
        health.chain,
        health.proxy_address,
        -- the round served at data_as_of: the one whose served interval reaches it
        max(case when intervals.is_served_at_data_end then health.updated_at end) as last_updated_at,
        max(health.served_from) as last_served_at,
        min(health.served_from) as first_served_at,
        count(*) as rounds_loaded,
        max(health.seconds_since_previous_update) as max_gap_seconds,
        sum(case when health.is_heartbeat_exceeded then 1 else 0 end) as heartbeat_misses,
        max(case when health.is_heartbeat_exceeded then health.served_from end) as last_heartbeat_miss_at
    from health
    inner join intervals
        on
            health.chain = intervals.chain
            and health.proxy_address = intervals.proxy_address
            and health.round_id = intervals.round_id
    group by health.chain, health.proxy_address
),

final as (
    -- the column order is the mart's interface, so calculations stay among the plain columns
    select  -- noqa: ST06
        feeds.chain,
        feeds.proxy_address,
        feeds.feed_pair,
        feeds.symbol,
        feeds.heartbeat_seconds,
        feeds.heartbeat_grace_seconds,
        feeds.warning_bps,
        feeds.critical_bps,
        feeds.hysteresis_bps,
        serving.phase_id as serving_phase_id,
        serving.activated_at as serving_phase_activated_at,
        loaded.data_as_of,
        updates.last_updated_at,
        updates.last_served_at,
        datediff('second', updates.last_updated_at, loaded.data_as_of) as seconds_since_last_update,
        -- no round served by data_as_of: the proxy had not gone live yet, which is not stale
        coalesce(
            datediff('second', updates.last_updated_at, loaded.data_as_of)
            > feeds.heartbeat_seconds + feeds.heartbeat_grace_seconds,
            false
        ) as is_stale,
        coalesce(updates.rounds_loaded, 0) as rounds_loaded,
        updates.max_gap_seconds,
        coalesce(updates.heartbeat_misses, 0) as heartbeat_misses,
        updates.last_heartbeat_miss_at,
        updates.first_served_at,
        iff(chains.chain is null, null, coalesce(sequencer_now.sequencer_status, 'unknown')) as sequencer_status,
        sequencer_now.status_from as sequencer_status_since
    from feeds
    inner join loaded
        on
            feeds.chain = loaded.chain
            and feeds.proxy_address = loaded.proxy_address
    left join updates
        on
            feeds.chain = updates.chain
            and feeds.proxy_address = updates.proxy_address
    left join serving
        on
            feeds.chain = serving.chain
            and feeds.proxy_address = serving.proxy_address
    left join chains
        on feeds.chain = chains.chain
    left join sequencer_now
        on
            feeds.chain = sequencer_now.chain
            and feeds.proxy_address = sequencer_now.proxy_address
)

select * from final
