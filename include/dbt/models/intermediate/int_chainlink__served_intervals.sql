{#- The interval each served round was the feed's price: from its served_from until the next
    round's served_from (order by served_from, round_id), the last one until the end of the loaded
    data, with the round's price. Derived once here; every mart that asks "which price was served
    at time t" reads it. -#}
with

rounds as (
    select * from {{ ref('stg_chainlink__rounds') }}
),

windows as (
    select * from {{ ref('stg_chainlink__load_windows') }}
),

loaded as (
    select
        chain,
        proxy_address,
        max(window_end) as data_as_of
    from windows
    group by chain, proxy_address
),

sequenced as (
    select
        chain,
        proxy_address,
        feed_pair,
        round_id,
        price_usd,
        served_from,
        lead(served_from) over (
            partition by chain, proxy_address
            order by served_from, round_id
        ) as next_served_from
    from rounds
),

final as (
    select
        sequenced.chain,
        sequenced.proxy_address,
        sequenced.feed_pair,
        sequenced.round_id,
        sequenced.price_usd,
        sequenced.served_from,
        sequenced.next_served_from,
        loaded.data_as_of,
        sequenced.next_served_from is null as is_served_at_data_end,
        coalesce(sequenced.next_served_from, loaded.data_as_of) as served_until
    from sequenced
    left join loaded
        on
            sequenced.chain = loaded.chain
            and sequenced.proxy_address = loaded.proxy_address
)

select * from final
