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
    -- the status changes across the proxy's phases, of the uptime feed the registry names now (rounds
    -- an earlier address stored stay in the raw table): a round repeating the status before it is none
    select
        rounds.chain,
        rounds.round_id,
        rounds.is_down,
        rounds.changed_at,
        coalesce(
            lag(rounds.is_down) over (partition by rounds.chain order by rounds.changed_at, rounds.round_id), false
        ) as was_down
    from rounds
    inner join chains
        on
            rounds.chain = chains.chain
            and rounds.proxy_address = chains.sequencer_proxy_address
    qualify coalesce(
        lag(rounds.is_down) over (partition by rounds.chain order by rounds.changed_at, rounds.round_id)
        <> rounds.is_down,
        true
    )
),

spans as (
    select
        changes.chain,
        changes.round_id,
        changes.is_down,
        changes.was_down,
        changes.changed_at,
        lead(changes.changed_at) over (
            partition by changes.chain order by changes.changed_at, changes.round_id
        ) as next_change_at,
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
    -- two changes in one second (the uptime feed takes them): the first lasted no time
    where status_until is null or status_until > status_from
)

select * from final
