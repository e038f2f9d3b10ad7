with

rounds as (
    select * from {{ ref('stg_chainlink__rounds') }}
),

feeds as (
    select * from {{ ref('stg_chainlink__feeds') }}
),

pegs as (
    select * from {{ ref('int_chainlink__round_pegs') }}
),

chains as (
    select * from {{ ref('stg_chainlink__chains') }}
),

sequencer as (
    select * from {{ ref('int_chainlink__sequencer_status') }}
),

deviations as (
    select
        rounds.chain,
        rounds.proxy_address,
        rounds.feed_pair,
        feeds.symbol,
        rounds.round_id,
        rounds.phase_id,
        rounds.updated_at,
        rounds.served_from,
        rounds.price_usd,
        pegs.peg_price_usd as peg_usd,
        pegs.peg_reference_pair,
        pegs.peg_reference_round_id,
        feeds.warning_bps,
        feeds.critical_bps,
        rounds.seconds_since_previous,
        rounds.is_heartbeat_exceeded,
        -- on an L2, the sequencer's status when the round was served; null on a chain without one
        case
            when chains.chain is null then null
            when sequencer.sequencer_status is null then 'unknown'
            else sequencer.sequencer_status
        end as sequencer_status,
        -- untrusted while down or in grace (int_chainlink__sequencer_status), or before a status is known
        case
            when chains.chain is null then true
            when sequencer.sequencer_status is null then false
            else not sequencer.is_untrusted
        end as is_price_trusted,
        cast(rounds.price_usd - pegs.peg_price_usd as float) / cast(pegs.peg_price_usd as float) * 100 as deviation_pct
    from rounds
    inner join feeds
        on
            rounds.chain = feeds.chain
            and rounds.proxy_address = feeds.proxy_address
    inner join pegs
        on
            rounds.chain = pegs.chain
            and rounds.proxy_address = pegs.proxy_address
            and rounds.round_id = pegs.round_id
    left join chains
        on rounds.chain = chains.chain
    left join sequencer
        on
            rounds.chain = sequencer.chain
            and rounds.served_from >= sequencer.status_from
            and (sequencer.status_until is null or rounds.served_from < sequencer.status_until)
),

final as (
    select
        chain,
        proxy_address,
        feed_pair,
        symbol,
        round_id,
        phase_id,
        updated_at,
        served_from,
        price_usd,
        peg_usd,
        peg_reference_pair,
        peg_reference_round_id,
        deviation_pct,
        abs(deviation_pct) as abs_deviation_pct,
        deviation_pct * 100 as deviation_bps,
        abs(deviation_pct) * 100 as abs_deviation_bps,
        -- no peg known (a reference-pegged feed while nothing of its reference is loaded): no status
        iff(deviation_pct is null, 'no_data', {{ peg_status('abs(deviation_pct) * 100') }}) as peg_status,
        warning_bps,
        critical_bps,
        -- measured at load time on the served series (how old the previous served price was when
        -- this round replaced it), so it does not depend on which days happen to be loaded
        seconds_since_previous as seconds_since_previous_update,
        coalesce(is_heartbeat_exceeded, false) as is_heartbeat_exceeded,
        sequencer_status,
        -- nothing is dropped: a round served while the sequencer was down or in its grace period
        -- (or before its status is known) keeps its price and status, marked untrusted
        is_price_trusted
    from deviations
)

select * from final
