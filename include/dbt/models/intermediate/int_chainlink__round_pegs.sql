{#- The peg each served round is judged against, in USD: the feed's constant peg_usd, or for a feed
    pegged to another feed (peg_reference_pair, e.g. EURC/USD to EUR/USD) peg_usd times that feed's
    price served at the same moment (its latest round served at or before the round's served_from,
    kept past the end of its loaded data, as the proxy keeps serving it). Null before the
    reference's first loaded round. -#}
with

rounds as (
    select * from {{ ref('stg_chainlink__rounds') }}
),

feeds as (
    select * from {{ ref('stg_chainlink__feeds') }}
),

reference_intervals as (
    select * from {{ ref('int_chainlink__served_intervals') }}
),

final as (
    select
        rounds.chain,
        rounds.proxy_address,
        rounds.round_id,
        feeds.peg_reference_pair,
        reference_intervals.round_id as peg_reference_round_id,
        reference_intervals.price_usd as peg_reference_price_usd,
        iff(
            feeds.peg_reference_pair is null,
            feeds.peg_usd,
            feeds.peg_usd * reference_intervals.price_usd
        ) as peg_price_usd
    from rounds
    inner join feeds
        on
            rounds.chain = feeds.chain
            and rounds.proxy_address = feeds.proxy_address
    left join reference_intervals
        on
            rounds.chain = reference_intervals.chain
            and feeds.peg_reference_pair = reference_intervals.feed_pair
            and rounds.served_from >= reference_intervals.served_from
            and (
                reference_intervals.next_served_from is null
                or rounds.served_from < reference_intervals.next_served_from
            )
)

select * from final
