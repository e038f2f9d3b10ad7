{#- The peg each served round is judged against, in USD: the feed's constant peg_usd, or for a feed
    pegged to another feed (peg_reference_pair, e.g. EURC/USD to EUR/USD) peg_usd times that feed's
    price served at the same moment: its latest round served at or before the round's served_from,
    kept past the end of its loaded data as the proxy keeps serving it. A round served before the
    reference's first loaded round (a window's carry-in, served before the window) is judged at that
    first round, the reference's price at the start of the loaded data. Null only while nothing of
    the reference is loaded. -#}
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

reference_starts as (
    select
        chain,
        feed_pair,
        min(served_from) as first_served_from
    from reference_intervals
    group by chain, feed_pair
),

judged as (
    select
        rounds.chain,
        rounds.proxy_address,
        rounds.round_id,
        feeds.peg_usd,
        feeds.peg_reference_pair,
        greatest(rounds.served_from, reference_starts.first_served_from) as judged_at
    from rounds
    inner join feeds
        on
            rounds.chain = feeds.chain
            and rounds.proxy_address = feeds.proxy_address
    left join reference_starts
        on
            rounds.chain = reference_starts.chain
            and feeds.peg_reference_pair = reference_starts.feed_pair
),

final as (
    select
        judged.chain,
        judged.proxy_address,
        judged.round_id,
        judged.peg_reference_pair,
        reference_intervals.round_id as peg_reference_round_id,
        reference_intervals.price_usd as peg_reference_price_usd,
        iff(
            judged.peg_reference_pair is null,
            judged.peg_usd,
            cast(judged.peg_usd * reference_intervals.price_usd as number(38, 18))
        ) as peg_price_usd
    from judged
    left join reference_intervals
        on
            judged.chain = reference_intervals.chain
            and judged.peg_reference_pair = reference_intervals.feed_pair
            and judged.judged_at >= reference_intervals.served_from
            and (
                reference_intervals.next_served_from is null
                or judged.judged_at < reference_intervals.next_served_from
            )
)

select * from final
