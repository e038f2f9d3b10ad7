"""Reading the registry file: its sections, each validated where read, cross-checked as a whole.

`load_registry` and `load_market` read and check the whole file alike, so a bad pool fails a DAG
that only wants the peg feeds too: the registry is one document, valid or not.
"""

from __future__ import annotations

from pathlib import Path

import yaml

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
_SECTIONS = ("defaults", "tokens", "references", "pools", "feeds")
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
    tokens = tokens_from_node(sections.get("tokens"), construct, path)
    references = _references(sections.get("references"), construct, path, defaults["heartbeat_grace_seconds"], tokens)
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
    sources = [
        source
        for (feed, _), node in zip(feeds, markets, strict=True)
        if node is not None
        for source in sources_from_node(feed, node, construct, path, pools, prices)
    ]
    return Market(
        tokens=tuple(tokens.values()),
        pools=tuple(pools.values()),
        references=tuple(r for r, _ in references),
        sources=tuple(sources),
        feeds=tuple(f for f, _ in feeds),
    )


def _references(
    node: yaml.Node | None, construct: Construct, path: Path, grace: int, tokens: dict[tuple[str, str], Token]
) -> list[tuple[Reference, str]]:
    """`references:` with where each is; each prices a token listed under `tokens:` on its chain."""
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
        reference = reference_from_mapping(raw, f"{where}: references", grace)
        if (reference.chain, reference.symbol) not in tokens:
            raise FeedRegistryError(
                f"{where}: references: symbol {reference.symbol!r} is not a token on {reference.chain} (see tokens:)"
            )
        entries.append((reference, where))
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
