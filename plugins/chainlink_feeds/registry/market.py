"""The on-chain market beside the oracle, as configured: tokens, pools and which pool prices which
feed's token through which Chainlink reference. Read with `load_market`; built only from a
validated registry, so every lookup below is over consistent data."""

from __future__ import annotations

from dataclasses import dataclass

from chainlink_feeds.registry.chains import Chain
from chainlink_feeds.registry.common import KNOWN_CHAINS
from chainlink_feeds.registry.feeds import Feed, Reference


@dataclass(frozen=True)
class Token:
    """An ERC-20 on one chain: the address and decimals the pool reader expects to find."""

    symbol: str
    chain: str
    address: str
    decimals: int


@dataclass(frozen=True)
class Pool:
    """A DEX pool as configured; the pool reader checks token0/token1/fee against the chain.
    `fee` is in hundredths of a basis point (Uniswap v3's unit: 100 = 0.01 %, 500 = 0.05 %)."""

    address: str
    chain: str
    dex: str
    token0: Token
    token1: Token
    fee: int

    @property
    def chain_id(self) -> int:
        return KNOWN_CHAINS[self.chain]

    @property
    def decimals0(self) -> int:
        return self.token0.decimals

    @property
    def decimals1(self) -> int:
        return self.token1.decimals


@dataclass(frozen=True)
class MarketSource:
    """One pool pricing a feed's token: the pool gives the token's price in the other token, and
    the `reference` feed (a peg feed or a `references:` entry, same chain) gives that one in USD."""

    feed: str
    pool: Pool
    reference: str
    token_is_token0: bool

    @property
    def chain(self) -> str:
        return self.pool.chain

    @property
    def token(self) -> Token:
        """The feed's token, the one this source prices."""
        return self.pool.token0 if self.token_is_token0 else self.pool.token1

    @property
    def paired_token(self) -> Token:
        """The pool's other token, priced in USD by `reference`."""
        return self.pool.token1 if self.token_is_token0 else self.pool.token0


@dataclass(frozen=True)
class Market:
    """Everything the registry says about markets, with the lookups the pool reader, the operator
    and dbt need. Lookups of something not configured raise KeyError naming it."""

    tokens: tuple[Token, ...]
    pools: tuple[Pool, ...]
    references: tuple[Reference, ...]
    sources: tuple[MarketSource, ...]
    feeds: tuple[Feed, ...]
    chains: tuple[Chain, ...] = ()

    def sequencer(self, chain: str) -> Chain | None:
        """The chain's `chains:` entry with its sequencer uptime feed; None on a chain without one."""
        return next((c for c in self.chains if c.name == chain), None)

    def sources_of(self, chain: str, pair: str) -> tuple[MarketSource, ...]:
        """The pools pricing feed `pair` on `chain` (empty for a feed without `market:`)."""
        if not any(f.chain == chain and f.pair == pair for f in self.feeds):
            raise KeyError(f"no peg feed {pair} on {chain} in the registry")
        return tuple(s for s in self.sources if s.chain == chain and s.feed == pair)

    def pools_on(self, chain: str) -> tuple[Pool, ...]:
        return tuple(p for p in self.pools if p.chain == chain)

    def stable_pools(self, chain: str) -> tuple[Pool, ...]:
        """The chain's pools between two peg-feed tokens: their price is one peg against another
        (a WETH pool's moves with ETH). What the near-real-time watch polls."""
        stables = {f.symbol for f in self.feeds if f.chain == chain}
        return tuple(p for p in self.pools_on(chain) if {p.token0.symbol, p.token1.symbol} <= stables)

    def references_in_use(self) -> tuple[Reference, ...]:
        """The references some source prices its pool's other token with, or some feed is pegged to
        (`peg_reference`): what the DAGs load beside the feeds."""
        used = {(s.chain, s.reference) for s in self.sources} | {(f.chain, f.peg_reference) for f in self.feeds}
        return tuple(r for r in self.references if (r.chain, r.pair) in used)

    def pool(self, chain: str, address: str) -> Pool:
        for pool in self.pools:
            if pool.chain == chain and pool.address.lower() == address.lower():
                return pool
        raise KeyError(f"no pool {address} on {chain} in the registry")

    def token(self, chain: str, symbol: str) -> Token:
        for token in self.tokens:
            if token.chain == chain and token.symbol == symbol:
                return token
        raise KeyError(f"no token {symbol} on {chain} in the registry")

    def price_feed(self, chain: str, pair: str) -> Feed | Reference:
        """The Chainlink feed a source's `reference` names: a peg feed or a `references:` entry."""
        for feed in (*self.feeds, *self.references):
            if feed.chain == chain and feed.pair == pair:
                return feed
        raise KeyError(f"no feed or reference {pair} on {chain} in the registry")
