"""The registry's market sections (tokens, references, pools, a feed's market:) validate where they
are read, naming file, line and field, and their lookups give the pool reader what it checks."""

from __future__ import annotations

from pathlib import Path

import pytest

from chainlink_feeds.keccak import keccak256
from chainlink_feeds.registry import (
    DEFAULT_REGISTRY,
    Feed,
    FeedRegistryError,
    Reference,
    load_market,
    load_registry,
    to_checksum_address,
)

UNISWAP_V3_FACTORY = "0x1F98431c8aD98523631AE4a59f267346ea31F984"
POOL_INIT_CODE_HASH = "e34f199b19b2b4f47f68442619d555527d244f78a3297ea89325f843f87b8b54"
USDC_USDT = "0x3416cF6C708Da44DB2624D63ea0AAef7113527C6"
USDC_WETH = "0x88e6A0c2dDD26FEEb64F039a2c41296FcB3f5640"
DAI_USDC = "0x5777d92f208679DB4b9778590Fa3CAB3aC9e2168"
WETH_USDT = "0x11b815efB8f581194ae79006d24E0d814B7697F6"

USDC_MARKET = f"""\
    market:
      - {{pool: "{USDC_USDT}", reference: USDT/USD}}
      - {{pool: "{USDC_WETH}", reference: ETH/USD}}
"""
MARKET = f"""\
tokens:
  ethereum:
    USDC: {{address: "0xA0b86991c6218b36c1d19D4a2e9Eb0cE3606eB48", decimals: 6}}
    USDT: {{address: "0xdAC17F958D2ee523a2206206994597C13D831ec7", decimals: 6}}
    WETH: {{address: "0xC02aaA39b223FE8D0A0e5C4F27eAD9083C756Cc2", decimals: 18}}
  arbitrum:
    USDC: {{address: "0xaf88d065e77c8cC2239327C5EDb3A432268e5831", decimals: 6}}
    USDT: {{address: "0xFd086bC7CD5C481DCC9C85ebE478A1C0b69FCbb9", decimals: 6}}
references:
  - symbol: WETH
    pair: ETH/USD
    chain: ethereum
    proxy: "0x5f4eC3Df9cbd43714FE2740f5E3616155c5b8419"
    decimals: 8
    heartbeat_seconds: 3600
    deviation_threshold_pct: 0.5
pools:
  - address: "{USDC_USDT}"
    chain: ethereum
    dex: uniswap_v3
    token0: USDC
    token1: USDT
    fee: 100
  - address: "{USDC_WETH}"
    chain: ethereum
    dex: uniswap_v3
    token0: USDC
    token1: WETH
    fee: 500
feeds:
  - symbol: USDC
    pair: USDC/USD
    chain: ethereum
    proxy: "0x8fFfFfd4AfB6115b954Bd326cbe7B4BA576818f6"
    decimals: 8
    heartbeat_seconds: 86400
    deviation_threshold_pct: 0.25
    peg_usd: 1.00
{USDC_MARKET}  - symbol: USDT
    pair: USDT/USD
    chain: ethereum
    proxy: "0x3E7d1eAB13ad0104d2750B8863b489D65364e32D"
    decimals: 8
    heartbeat_seconds: 86400
    deviation_threshold_pct: 0.25
    peg_usd: 1.00
"""
USDT_MARKET = f'    market:\n      - {{pool: "{USDC_WETH}", reference: ETH/USD}}\n'


def line(text: str, needle: str | tuple[str, str]) -> int:
    """The 1-based line of `needle`'s first occurrence in `text`; of its last for (needle, "last")."""
    at = text.rindex(needle[0]) if isinstance(needle, tuple) else text.index(needle)
    return text[:at].count("\n") + 1


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "feeds.yaml"
    path.write_text(text)
    return path


def create2_pool(token_a: str, token_b: str, fee: int) -> str:
    """Uniswap v3's pool address for two tokens and a fee: CREATE2 by the factory, salted with the
    sorted tokens and the fee (PoolAddress.computeAddress in v3-periphery)."""
    low, high = sorted((token_a, token_b), key=lambda a: int(a, 16))
    salt = keccak256(b"".join(bytes.fromhex(a[2:]).rjust(32, b"\0") for a in (low, high)) + fee.to_bytes(32, "big"))
    preimage = b"\xff" + bytes.fromhex(UNISWAP_V3_FACTORY[2:]) + salt + bytes.fromhex(POOL_INIT_CODE_HASH)
    return to_checksum_address("0x" + keccak256(preimage)[12:].hex())


def test_every_project_pool_is_the_factory_address_of_its_tokens_and_fee() -> None:
    pools = load_market(DEFAULT_REGISTRY).pools
    assert {p.address for p in pools} == {USDC_USDT, DAI_USDC, USDC_WETH, WETH_USDT}
    for pool in pools:
        assert create2_pool(pool.token1.address, pool.token0.address, pool.fee) == pool.address, pool
    # the other USDT/WETH tier, for the comment beside the pool: 0.3 % is 0x4e68...
    weth, usdt = (load_market(DEFAULT_REGISTRY).token("ethereum", s).address for s in ("WETH", "USDT"))
    assert create2_pool(weth, usdt, 3000) == "0x4e68Ccd3E89f51C3074ca5072bbAC773960dFa36"


def test_project_market_prices_each_feed_through_its_pools() -> None:
    market = load_market(DEFAULT_REGISTRY)
    listed = {
        pair: [
            (s.pool.address, s.token.symbol, s.paired_token.symbol, s.reference)
            for s in market.sources_of("ethereum", pair)
        ]
        for pair in ("USDC/USD", "USDT/USD", "DAI/USD")
    }
    assert listed == {
        "USDC/USD": [(USDC_USDT, "USDC", "USDT", "USDT/USD"), (DAI_USDC, "USDC", "DAI", "DAI/USD"), (USDC_WETH, "USDC", "WETH", "ETH/USD")],
        "USDT/USD": [(USDC_USDT, "USDT", "USDC", "USDC/USD"), (WETH_USDT, "USDT", "WETH", "ETH/USD")],
        "DAI/USD": [(DAI_USDC, "DAI", "USDC", "USDC/USD")],
    }  # fmt: skip
    eth = market.price_feed("ethereum", "ETH/USD")
    assert isinstance(eth, Reference) and (eth.proxy, eth.decimals, eth.heartbeat_seconds) == (
        "0x5f4eC3Df9cbd43714FE2740f5E3616155c5b8419",
        8,
        3600,
    )
    assert str(eth.deviation_threshold_pct) == "0.5" and eth.heartbeat_limit_seconds == 3600 + 900
    # what the DAGs load beside the feeds: the pools' references and the feeds' pegs (EURC's EUR/USD)
    assert market.references_in_use() == (eth, market.price_feed("ethereum", "EUR/USD"))
    # what the near-real-time watch polls: the pools between two stablecoins, not the WETH ones
    assert [p.address for p in market.stable_pools("ethereum")] == [USDC_USDT, DAI_USDC]


def test_load_registry_still_gives_the_peg_feeds_only() -> None:
    """Every DAG, sensor and operator builds per peg feed: a reference must never become one."""
    feeds = load_registry(DEFAULT_REGISTRY)
    assert [f.pair for f in feeds][:3] == ["USDC/USD", "USDT/USD", "DAI/USD"]
    assert {r.pair for r in load_market(DEFAULT_REGISTRY).references}.isdisjoint(f.pair for f in feeds)
    assert all(type(f) is Feed for f in feeds)
    assert [f.pair for f in load_market(DEFAULT_REGISTRY).feeds] == [f.pair for f in feeds]


def test_lookups(tmp_path: Path) -> None:
    market = load_market(write(tmp_path, MARKET))
    usdc_usdt = market.pool("ethereum", USDC_USDT.lower())
    assert (usdc_usdt.token0.symbol, usdc_usdt.token1.symbol, usdc_usdt.fee) == ("USDC", "USDT", 100)
    assert (usdc_usdt.decimals0, usdc_usdt.decimals1, usdc_usdt.chain_id, usdc_usdt.dex) == (6, 6, 1, "uniswap_v3")
    assert usdc_usdt.token1.address == "0xdAC17F958D2ee523a2206206994597C13D831ec7"
    assert [p.address for p in market.pools_on("ethereum")] == [USDC_USDT, USDC_WETH] and market.pools_on(
        "arbitrum"
    ) == ()
    first, second = market.sources_of("ethereum", "USDC/USD")
    assert (first.pool, first.token_is_token0, first.reference, first.chain) == (
        usdc_usdt,
        True,
        "USDT/USD",
        "ethereum",
    )
    assert (second.paired_token.symbol, second.paired_token.decimals, second.reference) == ("WETH", 18, "ETH/USD")
    assert market.sources_of("ethereum", "USDT/USD") == ()  # a feed without market: is valid
    assert market.price_feed("ethereum", "USDT/USD") == load_registry(write(tmp_path, MARKET))[1]
    assert market.token("arbitrum", "USDC").address == "0xaf88d065e77c8cC2239327C5EDb3A432268e5831"
    for lookup, args in [
        (market.sources_of, ("ethereum", "ETH/USD")),
        (market.price_feed, ("arbitrum", "ETH/USD")),
        (market.pool, ("arbitrum", USDC_USDT)),
        (market.token, ("ethereum", "DAI")),
    ]:
        with pytest.raises(KeyError, match=args[1].replace("/", ".")):
            lookup(*args)


def test_a_registry_without_market_sections_has_an_empty_market(tmp_path: Path) -> None:
    text = MARKET[MARKET.index("feeds:") :].replace(USDC_MARKET, "")
    market = load_market(write(tmp_path, text))
    assert (market.tokens, market.pools, market.references, market.sources) == ((), (), (), ())
    assert [f.pair for f in market.feeds] == ["USDC/USD", "USDT/USD"]


def swap_pool_tokens(text: str) -> str:
    return text.replace("token0: USDC\n    token1: USDT", "token0: USDT\n    token1: USDC", 1)


# (how to break MARKET, the needle whose line the error names, the message after "line N: ")
REFUSALS = [
    # unknown token
    (("token1: USDT", "token1: USDX"), "  - address", "pools: token1 'USDX' is not a token on ethereum"),
    (("ethereum:\n    USDC", "ethereum:\n    USDC2"), "  - address", "pools: token0 'USDC' is not a token on ethereum"),
    # unknown pool
    ((f'{{pool: "{USDC_WETH}"', f'{{pool: "{DAI_USDC}"'), f'      - {{pool: "{DAI_USDC}', f"feed USDC/USD: market: unknown pool {DAI_USDC} on ethereum \\(list it under pools:\\)"),
    # a pool on another chain than the feed
    (("chain: ethereum\n    dex", "chain: arbitrum\n    dex"), "      - {pool", f"feed USDC/USD: market: pool {USDC_USDT} is on arbitrum, the feed on ethereum"),
    # a reference not in the registry
    (("reference: USDT/USD", "reference: DAI/USD"), "      - {pool", "feed USDC/USD: market: unknown reference DAI/USD: not a feed or reference on ethereum"),
    # a reference on another chain
    (("USDT/USD\n    chain: ethereum", "USDT/USD\n    chain: arbitrum"), "      - {pool", "feed USDC/USD: market: reference USDT/USD is on arbitrum, not on the feed's chain ethereum"),
    # a reference that does not price the pool's other token (or not in USD)
    (("reference: USDT/USD", "reference: USDC/USD"), "      - {pool", "feed USDC/USD: market: reference USDC/USD prices USDC in USD, not the pool's other token USDT in USD"),
    (("reference: USDT/USD", "reference: ETH/USD"), "      - {pool", "feed USDC/USD: market: reference ETH/USD prices WETH in USD, not the pool's other token USDT"),
    ((lambda text: text.replace("ETH/USD", "ETH/EUR"), None), f'      - {{pool: "{USDC_WETH}', "feed USDC/USD: market: reference ETH/EUR prices WETH in EUR, not the pool's other token WETH in USD"),
    # duplicate pools, in pools: and in a market:
    (("pools:\n", f"pools:\n  - address: \"{USDC_WETH}\"\n    chain: ethereum\n    dex: uniswap_v3\n    token0: USDC\n    token1: WETH\n    fee: 500\n"), (f'  - address: "{USDC_WETH}', "last"), "pools: duplicate pool .* \\(first at .*feeds.yaml line "),
    (('fee: 500\n', f'fee: 500\n  - address: "{DAI_USDC}"\n    chain: ethereum\n    dex: uniswap_v3\n    token0: USDC\n    token1: WETH\n    fee: 500\n'), f'  - address: "{DAI_USDC}', f"pools: duplicate pool {DAI_USDC}"),
    (('reference: ETH/USD}\n', f'reference: ETH/USD}}\n      - {{pool: "{USDC_WETH}", reference: ETH/USD}}\n'), (f'      - {{pool: "{USDC_WETH}', "last"), f"feed USDC/USD: market: duplicate pool {USDC_WETH} \\(first at"),
    # token0 must have the lower address
    ((swap_pool_tokens, None), "  - address", "pools: token0 USDT \\(0xdAC17F.*\\) must have a lower address than token1 USDC"),
    # addresses must be EIP-55
    (("0xA0b86991c6218b36c1d19D4a2e9Eb0cE3606eB48", "0xa0b86991c6218b36c1d19d4a2e9eb0ce3606eb48"), "    USDC", "tokens: ethereum: USDC: address .* is not EIP-55 checksummed"),
    ((f'address: "{USDC_USDT}"', f'address: "{USDC_USDT.lower()}"'), "  - address", "pools: address .* is not EIP-55 checksummed \\(expected 0x3416cF6C"),
    ((f'{{pool: "{USDC_USDT}"', f'{{pool: "{USDC_USDT.upper().replace("0X", "0x")}"'), "      - {pool", "feed USDC/USD: market: pool .* is not EIP-55 checksummed"),
    (("0x5f4eC3Df9cbd43714FE2740f5E3616155c5b8419", "0x5f4ec3df9cbd43714fe2740f5e3616155c5b8419"), "  - symbol: WETH", "references: proxy .* is not EIP-55 checksummed"),
    (("0xdAC17F958D2ee523a2206206994597C13D831ec7", "0xdAC17F958D2ee523a2206206994597C13D831"), "    USDT", "tokens: ethereum: USDT: address .* is not a 20-byte hex address"),
    # references cannot have a market (no cycles), a peg or thresholds
    (("deviation_threshold_pct: 0.5\n", f'deviation_threshold_pct: 0.5\n    market:\n      - {{pool: "{USDC_WETH}", reference: USDC/USD}}\n'), "  - symbol: WETH", "references: a reference has no market"),
    (("deviation_threshold_pct: 0.5\n", "deviation_threshold_pct: 0.5\n    peg_usd: 1\n"), "  - symbol: WETH", r"references: unknown field\(s\) \['peg_usd'\]"),
    (("symbol: WETH", "symbol: ETH"), "  - symbol: ETH", "references: symbol 'ETH' is not a token on ethereum"),
    (("pair: ETH/USD", "pair: USDT/USD"), "  - symbol: USDT", "duplicate feed 'USDT/USD' on ethereum \\(first at .*line "),
    # the other fields of a pool, a token, a market entry and the sections' shapes
    (("dex: uniswap_v3", "dex: curve"), "  - address", "pools: dex 'curve' is not one the pool reader reads \\(uniswap_v3\\)"),
    (("fee: 100", "fee: 1000000"), "  - address", "pools: fee must be in hundredths of a bip, 1..999999, got 1000000"),
    (("fee: 100", "fee: 0.01"), "  - address", "pools: field 'fee' has the wrong type"),
    (("    token1: USDT\n", ""), "  - address", "pools: missing field 'token1'"),
    (("decimals: 18}", "decimals: 37}"), "    WETH", "tokens: ethereum: WETH: decimals must be between 0 and 36"),
    (("  arbitrum:\n    USDC", "  arbitrum:\n    USDC: {address: \"0xaf88d065e77c8cC2239327C5EDb3A432268e5831\", decimals: 6}\n    USDC"), ('    USDC: {address: "0xaf88', "last"), "tokens: arbitrum: duplicate key 'USDC' \\(first at"),
    (("0xFd086bC7CD5C481DCC9C85ebE478A1C0b69FCbb9", "0xaf88d065e77c8cC2239327C5EDb3A432268e5831"), ("    USDT", "last"), "tokens: arbitrum: USDT: address 0xaf88.* is also USDC"),
    (("  arbitrum:", "  arbitrun:"), "  arbitrun", "tokens: unknown chain 'arbitrun'"),
    (("ethereum:\n    USDC", "ethereum:\n    US DC"), "    US DC", "tokens: ethereum: US DC: symbol 'US DC' is not letters"),
    (("reference: USDT/USD}", "reference: USDT/USD, weight: 2}"), "      - {pool", r"feed USDC/USD: market: unknown field\(s\) \['weight'\]"),
    ((", reference: USDT/USD}", "}"), "      - {pool", "feed USDC/USD: market: missing field 'reference'"),
    ((USDC_MARKET, f'    market: "{USDC_USDT}"\n'), "    market", "feed USDC/USD: market must be a list"),
    ((lambda text: "pools: {}\n" + text[text.index("feeds:") :].replace(USDC_MARKET, ""), None), "pools:", "pools must be a list"),
    (("pools:\n", "tokens: {}\npools:\n"), ("tokens:", "last"), "top level: duplicate key 'tokens' \\(first at .*line 1\\)"),
]  # fmt: skip


@pytest.mark.parametrize(("change", "needle", "message"), REFUSALS)
def test_market_refusals_name_file_line_and_field(
    tmp_path: Path, change: tuple, needle: str | tuple[str, str], message: str
) -> None:
    old, new = change
    text = old(MARKET) if callable(old) else MARKET.replace(old, new, 1)
    assert text != MARKET
    with pytest.raises(FeedRegistryError, match=f"feeds.yaml line {line(text, needle)}: {message}"):
        load_market(write(tmp_path, text))
    with pytest.raises(FeedRegistryError):  # the peg feeds come from the same, refused, document
        load_registry(write(tmp_path, text))


def test_a_pool_not_holding_the_feeds_token_is_refused(tmp_path: Path) -> None:
    text = MARKET + USDT_MARKET
    with pytest.raises(
        FeedRegistryError,
        match=f"line {line(text, (USDT_MARKET.splitlines()[1], 'last'))}: feed USDT/USD: market: pool {USDC_WETH} holds USDC "
        "and WETH, not the feed's token USDT",
    ):
        load_market(write(tmp_path, text))


def test_references_take_the_registry_grace_unless_they_set_their_own(tmp_path: Path) -> None:
    shared = "defaults:\n  heartbeat_grace_seconds: 60\n" + MARKET
    (eth,) = load_market(write(tmp_path, shared)).references
    assert (eth.heartbeat_grace_seconds, eth.heartbeat_limit_seconds) == (60, 3660)
    own = shared.replace(
        "deviation_threshold_pct: 0.5\n", "deviation_threshold_pct: 0.5\n    heartbeat_grace_seconds: 5\n"
    )
    assert load_market(write(tmp_path, own)).references[0].heartbeat_grace_seconds == 5
    with pytest.raises(
        FeedRegistryError, match=f"line {line(shared, '  - symbol: WETH')}: references: heartbeat_grace"
    ):
        load_market(write(tmp_path, own.replace("heartbeat_grace_seconds: 5", "heartbeat_grace_seconds: -5")))
