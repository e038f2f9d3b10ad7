"""Reading the registry file: its sections, each validated where read, cross-checked as a whole.

`load_registry` and `load_market` read and check the whole file alike, so a bad pool fails a DAG
that only wants the peg feeds too: the registry is one document, valid or not.
"""

from __future__ import annotations

from pathlib import Path

import yaml

from chainlink_feeds.registry.chains import chains_from_node, check_sequencers
from chainlink_feeds.registry.common import DEFAULT_REGISTRY, FeedRegistryError, at, unique_items
from chainlink_feeds.registry.feeds import (
    DEFAULT_THRESHOLDS,
    Feed,
    Reference,
    feed_from_mapping,
    reference_from_mapping,
    thresholds,
)
from chainlink_feeds.registry.market import Market, Token
from chainlink_feeds.registry.market_entries import Construct, pools_from_node, sources_from_node, tokens_from_node

# libyaml's loader when PyYAML has it: it keeps line marks and parses in a fraction of the time.
_SafeLoader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
_SECTIONS = ("defaults", "chains", "tokens", "references", "pools", "feeds")
# Issue 18 adds a top-level `market_defaults:` (floors for the market checks) beside `defaults:`,
# overridden per feed like the thresholds; until then both are refused as unknown keys.


def load_registry(path: str | Path = DEFAULT_REGISTRY) -> list[Feed]:
    """The peg feeds (`feeds:`), never the references; raise FeedRegistryError naming the bad line."""
    return list(load_market(path).feeds)


def load_market(path: str | Path = DEFAULT_REGISTRY) -> Market:
    """The whole registry: peg feeds, references, tokens, pools and each feed's market sources."""
    path = Path(path)
    try:
        loader = _SafeLoader(path.read_text())
        try:
            document = loader.get_single_node()
        finally:
            loader.dispose()
    except (OSError, yaml.YAMLError) as exc:
        raise FeedRegistryError(f"{path}: cannot read the feed registry: {exc}") from exc
    if not isinstance(document, yaml.MappingNode):
        raise FeedRegistryError(f"{path}: expected a mapping with a 'feeds' list")
    sections: dict[str, yaml.Node] = {}
    for key, node, where in unique_items(document, path, "top level"):
        if key not in _SECTIONS:
            raise FeedRegistryError(f"{where}: unknown top-level key {key!r} (expected {', '.join(_SECTIONS)})")
        sections[key] = node
    return _market(path, sections, lambda node: loader.construct_object(node, deep=True))


def _market(path: Path, sections: dict[str, yaml.Node], construct: Construct) -> Market:
    defaults = _defaults(sections.get("defaults"), construct, path)
    chains = chains_from_node(sections.get("chains"), construct, path)
    tokens = tokens_from_node(sections.get("tokens"), construct, path)
    references = _references(sections.get("references"), construct, path, defaults["heartbeat_grace_seconds"])
    pools = pools_from_node(sections.get("pools"), construct, path, tokens)
    feeds, markets = _feeds(sections.get("feeds"), construct, path, defaults)
    prices: dict[tuple[str, str], Feed | Reference] = {}
    seen: dict[tuple[str, str], str] = {}
    for entry, where in [*references, *feeds]:
        for key in ((entry.chain, entry.proxy.lower()), (entry.chain, entry.pair)):
            if key in seen:
                raise FeedRegistryError(f"{where}: duplicate feed {key[1]!r} on {entry.chain} (first at {seen[key]})")
            seen[key] = where
        prices[(entry.chain, entry.pair)] = entry
    _check_pegs(feeds, markets, prices)
    _check_references_used(references, feeds, tokens)
    sources = [
        source
        for (feed, _), node in zip(feeds, markets, strict=True)
        if node is not None
        for source in sources_from_node(feed, node, construct, path, pools, prices)
    ]
    check_sequencers(chains, [*references, *feeds])
    return Market(
        tokens=tuple(tokens.values()),
        pools=tuple(pools.values()),
        references=tuple(r for r, _ in references),
        sources=tuple(sources),
        feeds=tuple(f for f, _ in feeds),
        chains=tuple(chains.values()),
    )


def _check_pegs(
    feeds: list[tuple[Feed, str]], markets: list[yaml.Node | None], prices: dict[tuple[str, str], Feed | Reference]
) -> None:
    """A `peg_reference` names a feed or reference on the feed's chain, quoted in the feed's own
    quote currency, that is itself pegged to nothing (one step from USD: no chains, no cycles)."""
    for (feed, where), market in zip(feeds, markets, strict=True):
        if feed.peg_reference is None:
            continue
        field = f"{where}: feed {feed.pair}: peg_reference {feed.peg_reference!r}"
        target = prices.get((feed.chain, feed.peg_reference))
        if target is None:
            raise FeedRegistryError(f"{field} is not a feed or reference on {feed.chain}")
        if target is feed:
            raise FeedRegistryError(f"{field}: a feed cannot be pegged to itself")
        if isinstance(target, Feed) and target.peg_reference is not None:
            raise FeedRegistryError(
                f"{field} is itself pegged to {target.peg_reference!r}: a peg reference must be pegged to "
                "nothing (no chains or cycles of pegs)"
            )
        if target.pair.split("/")[1] != feed.pair.split("/")[1]:
            raise FeedRegistryError(f"{field} is not quoted in {feed.pair.split('/')[1]} like the feed")
        if market is not None:
            raise FeedRegistryError(
                f"{where}: feed {feed.pair}: market: the market checks compare with a constant peg; a feed "
                "with peg_reference cannot have a market yet"
            )


def _check_references_used(
    references: list[tuple[Reference, str]], feeds: list[tuple[Feed, str]], tokens: dict[tuple[str, str], Token]
) -> None:
    """Each reference prices a token listed under `tokens:` on its chain, or is a feed's peg."""
    pegs = {(f.chain, f.peg_reference) for f, _ in feeds}
    for reference, where in references:
        if (reference.chain, reference.symbol) not in tokens and (reference.chain, reference.pair) not in pegs:
            raise FeedRegistryError(
                f"{where}: references: symbol {reference.symbol!r} is not a token on {reference.chain} (see "
                f"tokens:) and no feed has peg_reference {reference.pair!r}"
            )


def _references(node: yaml.Node | None, construct: Construct, path: Path, grace: int) -> list[tuple[Reference, str]]:
    """`references:` with where each is (`_check_references_used` checks each is used)."""
    if node is None:
        return []
    if not isinstance(node, yaml.SequenceNode):
        raise FeedRegistryError(f"{at(path, node)}: references must be a list")
    entries = []
    for item in node.value:
        where = at(path, item)
        raw = construct(item)
        if not isinstance(raw, dict):
            raise FeedRegistryError(f"{where}: references: each reference must be a mapping")
        entries.append((reference_from_mapping(raw, f"{where}: references", grace), where))
    return entries


def _feeds(
    node: yaml.Node | None, construct: Construct, path: Path, defaults: dict[str, int]
) -> tuple[list[tuple[Feed, str]], list[yaml.Node | None]]:
    """The peg feeds with where each is, and each one's `market:` node (None without one)."""
    if not isinstance(node, yaml.SequenceNode) or not node.value:
        raise FeedRegistryError(f"{path}: expected a non-empty 'feeds' list")
    feeds, markets = [], []
    for item in node.value:
        where = at(path, item)
        if not isinstance(item, yaml.MappingNode):
            raise FeedRegistryError(f"{where}: each feed must be a mapping")
        raw = dict(construct(item))  # a copy: the loader caches what it constructed
        raw.pop("market", None)
        feeds.append((feed_from_mapping(raw, where, defaults), where))
        markets.append(next((v for k, v in item.value if k.value == "market"), None))
    return feeds, markets


def _defaults(node: yaml.Node | None, construct: Construct, path: Path) -> dict[str, int]:
    """The registry's `defaults:` block (threshold fields only) over the built-in defaults."""
    if node is None:
        return DEFAULT_THRESHOLDS
    where = at(path, node)
    if not isinstance(node, yaml.MappingNode):
        raise FeedRegistryError(f"{where}: defaults must be a mapping of {', '.join(DEFAULT_THRESHOLDS)}")
    raw = construct(node)
    unknown = set(raw) - set(DEFAULT_THRESHOLDS)
    if unknown:
        raise FeedRegistryError(f"{where}: defaults: unknown field(s) {sorted(unknown)}")
    return thresholds(raw, DEFAULT_THRESHOLDS, f"{where}: defaults")
