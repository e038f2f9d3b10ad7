{#- Per L2: its sequencer's status as consecutive intervals [status_from, status_until) from the
    uptime feed's first round on: 'down' while it is down, 'grace' for the chain's grace period after
    it is back (cut short if it goes down again), 'up' otherwise. The last interval is open
    (status_until null). The chain's prices are untrusted while 'down' or 'grace'. -#}
with

rounds as (
    select * from {{ ref('stg_chainlink__sequencer_rounds') }}
),

chains as (
    select * from {{ ref('stg_chainlink__chains') }}
),

changes as (
    -- the status changes across the proxy's phases: a round repeating the status before it is none
    select
        chain,
        round_id,
        is_down,
        changed_at,
        coalesce(lag(is_down) over (partition by chain order by changed_at, round_id), false) as was_down
    from rounds
    qualify coalesce(lag(is_down) over (partition by chain order by changed_at, round_id) <> is_down, true)
),

spans as (
    select
        changes.chain,
        changes.round_id,
        changes.is_down,
        changes.was_down,
        changes.changed_at,
        lead(changes.changed_at) over (partition by changes.chain order by changes.changed_at) as next_change_at,
        -- back up after an outage: untrusted for the grace period, or until it goes down again
        case
            when not changes.is_down and changes.was_down
                then dateadd('second', chains.grace_period_seconds, changes.changed_at)
        end as grace_ends_at
    from changes
    inner join chains
        on changes.chain = chains.chain
),

intervals as (
    select
        chain,
        round_id,
        iff(is_down, 'down', 'up') as sequencer_status,
        changed_at as status_from,
        next_change_at as status_until
    from spans
    where grace_ends_at is null
    union all
    select
        chain,
        round_id,
        'grace' as sequencer_status,
        changed_at as status_from,
        iff(next_change_at < grace_ends_at, next_change_at, grace_ends_at) as status_until
    from spans
    where grace_ends_at > changed_at  -- a grace period of 0 s has none
    union all
    select
        chain,
        round_id,
        'up' as sequencer_status,
        grace_ends_at as status_from,
        next_change_at as status_until
    from spans
    where grace_ends_at is not null and (next_change_at is null or next_change_at > grace_ends_at)
),

final as (
    select
        chain,
        round_id as status_round_id,
        sequencer_status,
        status_from,
        status_until,
        sequencer_status in ('down', 'grace') as is_untrusted
    from intervals
)

select * from final
