"""Validation of the registry's market sections: `tokens:`, `pools:` and a feed's `market:` list.
Each check names the file, the entry's line and the field, and refers to the other sections by
their keys (a token by chain and symbol, a pool by chain and address, a reference by chain and pair)."""

from __future__ import annotations

import re
from collections.abc import Callable
from pathlib import Path
from typing import Any

import yaml

from chainlink_feeds.registry.common import (
    FeedRegistryError,
    at,
    checked_address,
    checked_chain,
    checked_fields,
    unique_items,
)
from chainlink_feeds.registry.feeds import Feed, Reference
from chainlink_feeds.registry.market import MarketSource, Pool, Token

Construct = Callable[[yaml.Node], Any]
# The DEXes whose pools the pool reader can read.
KNOWN_DEXES = ("uniswap_v3",)
# Uniswap v3 takes fees below 100 % in hundredths of a basis point (its pools revert on fee >= 1e6).
_FEE_LIMIT = 1_000_000
_SYMBOL = re.compile(r"^[A-Za-z0-9.]+$")
_POOL_FIELDS = {"address": str, "chain": str, "dex": str, "token0": str, "token1": str, "fee": int}
_SOURCE_FIELDS = {"pool": str, "reference": str}


def _mapping(construct: Construct, node: yaml.Node, where: str, what: str) -> dict[str, Any]:
    value = construct(node)
    if not isinstance(value, dict):
        raise FeedRegistryError(f"{where}: {what} must be a mapping, got {value!r}")
    return value


def tokens_from_node(node: yaml.Node | None, construct: Construct, path: Path) -> dict[tuple[str, str], Token]:
    """`tokens:` (chain -> symbol -> {address, decimals}) keyed by (chain, symbol)."""
    if node is None:
        return {}
    if not isinstance(node, yaml.MappingNode):
        raise FeedRegistryError(f"{at(path, node)}: tokens must map chain names to their tokens")
    tokens: dict[tuple[str, str], Token] = {}
    for chain, chain_node, where in unique_items(node, path, "tokens"):
        checked_chain(chain, f"{where}: tokens")
        if not isinstance(chain_node, yaml.MappingNode):
            raise FeedRegistryError(f"{where}: tokens: {chain} must map symbols to {{address, decimals}}")
        by_address: dict[str, str] = {}
        for symbol, token_node, line in unique_items(chain_node, path, f"tokens: {chain}"):
            here = f"{line}: tokens: {chain}: {symbol}"
            if not _SYMBOL.match(symbol):
                raise FeedRegistryError(f"{here}: symbol {symbol!r} is not letters, digits and dots")
            raw = _mapping(construct, token_node, here, "a token")
            checked_fields(raw, {"address": str, "decimals": int}, (), here)
            address = checked_address(raw["address"], "address", here)
            if not 0 <= raw["decimals"] <= 36:
                raise FeedRegistryError(f"{here}: decimals must be between 0 and 36, got {raw['decimals']}")
            if address.lower() in by_address:
                raise FeedRegistryError(f"{here}: address {address} is also {by_address[address.lower()]}")
            by_address[address.lower()] = symbol
            tokens[(chain, symbol)] = Token(symbol, chain, address, raw["decimals"])
    return tokens


def _token(tokens: dict[tuple[str, str], Token], chain: str, symbol: Any, name: str, where: str) -> Token:
    if (chain, symbol) not in tokens:
        known = ", ".join(sorted(s for c, s in tokens if c == chain)) or "none"
        raise FeedRegistryError(f"{where}: {name} {symbol!r} is not a token on {chain} (tokens: {known})")
    return tokens[(chain, symbol)]


def pool_from_mapping(raw: dict[str, Any], tokens: dict[tuple[str, str], Token], where: str) -> Pool:
    """One `pools:` entry: its tokens in the pool's order (token0 has the lower address)."""
    checked_fields(raw, _POOL_FIELDS, (), where)
    chain = checked_chain(raw["chain"], where)
    address = checked_address(raw["address"], "address", where)
    if raw["dex"] not in KNOWN_DEXES:
        raise FeedRegistryError(
            f"{where}: dex {raw['dex']!r} is not one the pool reader reads ({', '.join(KNOWN_DEXES)})"
        )
    token0 = _token(tokens, chain, raw["token0"], "token0", where)
    token1 = _token(tokens, chain, raw["token1"], "token1", where)
    if int(token0.address, 16) >= int(token1.address, 16):
        raise FeedRegistryError(
            f"{where}: token0 {token0.symbol} ({token0.address}) must have a lower address than token1 "
            f"{token1.symbol} ({token1.address}): a pool orders its tokens by address"
        )
    if not 0 < raw["fee"] < _FEE_LIMIT:
        raise FeedRegistryError(f"{where}: fee must be in hundredths of a bip, 1..{_FEE_LIMIT - 1}, got {raw['fee']}")
    return Pool(address, chain, raw["dex"], token0, token1, raw["fee"])


def pools_from_node(
    node: yaml.Node | None, construct: Construct, path: Path, tokens: dict[tuple[str, str], Token]
) -> dict[tuple[str, str], Pool]:
    """`pools:` keyed by (chain, lower-case address); a pool listed twice, under its address or as
    the same tokens and fee on the same DEX, is refused."""
    if node is None:
        return {}
    if not isinstance(node, yaml.SequenceNode):
        raise FeedRegistryError(f"{at(path, node)}: pools must be a list")
    pools: dict[tuple[str, str], Pool] = {}
    seen: dict[tuple[Any, ...], str] = {}
    for item in node.value:
        where = f"{at(path, item)}: pools"
        pool = pool_from_mapping(_mapping(construct, item, where, "a pool"), tokens, where)
        for key in ((pool.chain, pool.address.lower()), (pool.chain, pool.dex, pool.token0, pool.token1, pool.fee)):
            if key in seen:
                raise FeedRegistryError(f"{where}: duplicate pool {pool.address} (first at {seen[key]})")
            seen[key] = at(path, item)
        pools[(pool.chain, pool.address.lower())] = pool
    return pools


def _elsewhere(keys: Any, value: str) -> list[str]:
    return sorted(chain for chain, other in keys if other == value)


def _source_pool(pools: dict[tuple[str, str], Pool], feed: Feed, address: str, where: str) -> Pool:
    pool = pools.get((feed.chain, address.lower()))
    if pool is None:
        chains = _elsewhere(pools, address.lower())
        if chains:
            raise FeedRegistryError(f"{where}: pool {address} is on {chains[0]}, the feed on {feed.chain}")
        raise FeedRegistryError(f"{where}: unknown pool {address} on {feed.chain} (list it under pools:)")
    if feed.symbol not in (pool.token0.symbol, pool.token1.symbol):
        raise FeedRegistryError(
            f"{where}: pool {address} holds {pool.token0.symbol} and {pool.token1.symbol}, "
            f"not the feed's token {feed.symbol}"
        )
    return pool


def _source_reference(
    prices: dict[tuple[str, str], Feed | Reference], feed: Feed, pair: str, other: Token, where: str
) -> Feed | Reference:
    reference = prices.get((feed.chain, pair))
    if reference is None:
        chains = _elsewhere(prices, pair)
        if chains:
            raise FeedRegistryError(
                f"{where}: reference {pair} is on {chains[0]}, not on the feed's chain {feed.chain}"
            )
        raise FeedRegistryError(f"{where}: unknown reference {pair}: not a feed or reference on {feed.chain}")
    quote = reference.pair.split("/")[1]
    if reference.symbol != other.symbol or quote != "USD":
        raise FeedRegistryError(
            f"{where}: reference {pair} prices {reference.symbol} in {quote}, "
            f"not the pool's other token {other.symbol} in USD"
        )
    return reference


def sources_from_node(
    feed: Feed,
    node: yaml.Node,
    construct: Construct,
    path: Path,
    pools: dict[tuple[str, str], Pool],
    prices: dict[tuple[str, str], Feed | Reference],
) -> list[MarketSource]:
    """A feed's `market:` list: each entry a pool holding the feed's token and the reference (a feed
    or a `references:` entry on the same chain) pricing the pool's other token in USD."""
    if not isinstance(node, yaml.SequenceNode):
        raise FeedRegistryError(f"{at(path, node)}: feed {feed.pair}: market must be a list of {{pool, reference}}")
    sources: list[MarketSource] = []
    seen: dict[str, str] = {}
    for item in node.value:
        where = f"{at(path, item)}: feed {feed.pair}: market"
        raw = _mapping(construct, item, where, "a market entry")
        checked_fields(raw, _SOURCE_FIELDS, (), where)
        listed = pools.get((feed.chain, raw["pool"].lower()))
        # the pool's own entry checked its address: spelled the same, it needs no second keccak
        address = (
            raw["pool"] if listed and listed.address == raw["pool"] else checked_address(raw["pool"], "pool", where)
        )
        pool = _source_pool(pools, feed, address, where)
        if address.lower() in seen:
            raise FeedRegistryError(f"{where}: duplicate pool {address} (first at {seen[address.lower()]})")
        seen[address.lower()] = at(path, item)
        is_token0 = pool.token0.symbol == feed.symbol
        other = pool.token1 if is_token0 else pool.token0
        reference = _source_reference(prices, feed, raw["reference"], other, where)
        sources.append(MarketSource(feed.pair, pool, reference.pair, is_token0))
    return sources
