"""The stack's node holds the simulated history: which one (`.stack/history.json`), whether it is
there, and replaying it when it is not (a new history, or a node restarted without its states)."""

from __future__ import annotations

import fcntl
import hashlib
import json
import logging
from datetime import UTC, datetime

from web3.exceptions import ContractLogicError

from chainlink_feeds.registry import Feed, Reference, load_market
from chainlink_feeds.rounds import split_round_id
from devstack.chain import contracts
from devstack.chain.node import GENESIS_TIMESTAMP, HARDFORK
from devstack.chain.replay import head_timestamp, replay_many
from devstack.chain.rpc import ChainError, Rpc
from devstack.chain.uniswap import artifacts as uniswap_artifacts
from devstack.chain.uniswap import create_pool, deploy_uniswap, drive_call
from devstack.settings import AIRFLOW_HOME, ANVIL_CHAIN_ID, ANVIL_URL, STACK_DIR
from devstack.simulation import history, pools

log = logging.getLogger(__name__)

HISTORY_FILE = STACK_DIR / "history.json"
REPLAY_LOCK = STACK_DIR / "anvil" / "replay.lock"
DEPLOY_LEAD_SECONDS = 3600  # the stack's contracts are deployed this long before its history starts


def replay(feeds: list[Feed], scenario: history.Scenario, rpc: Rpc | None = None) -> dict[str, int]:
    """Write the simulated history of every feed and reference onto the node, with the pools'
    trading; return rounds written per pair.

    Ends with a block at the history's end unless a round landed later: the oracle (devstack.oracle)
    publishes the market from there to now, in blocks that must not be older than the latest.
    """
    rpc = rpc or Rpc()
    plans = {oracle: history.phases(oracle, scenario) for oracle in oracles(feeds)}
    trading = _pools_trading(rpc, feeds, scenario)
    replay_many(rpc, plans, deployed_at=int(scenario.start.timestamp()) - DEPLOY_LEAD_SECONDS, transactions=trading)
    if head_timestamp(rpc) < scenario.end.timestamp():
        rpc.call("evm_mine", int(scenario.end.timestamp()))
    for feed, feed_phases in plans.items():
        log.info("replayed %s rounds of %s (%s)", sum(len(p.rounds) for p in feed_phases), feed.pair, history.LABEL)
    return {feed.pair: sum(len(p.rounds) for p in feed_phases) for feed, feed_phases in plans.items()}


def oracles(feeds: list[Feed]) -> list[Feed | Reference]:
    """The feeds and the registry's references (ETH/USD: it prices the WETH pools): every proxy the stack serves."""
    return [*feeds, *load_market().references]


def _pools_trading(rpc: Rpc, feeds: list[Feed], scenario: history.Scenario) -> dict[int, list[tuple[str, str]]]:
    """Uniswap and the registry's pools on the node (opening at their first hour's price), and the
    driver transactions that move them hour by hour with the simulated market (simulation.pools)."""
    market = load_market()
    states = pools.plan(market, feeds, scenario)
    deploy_uniswap(rpc)
    for address, price in pools.first_prices(states, market).items():
        pool = market.pool("ethereum", address)
        create_pool(rpc, pool.token0.address, pool.token1.address, pool.fee, price)
    trading: dict[int, list[tuple[str, str]]] = {}
    for s in states:
        trading.setdefault(s.at, []).append(drive_call(s.pool, s.tick, s.liquidity))
    log.info("%s pool states to replay (%s)", len(states), pools.LABEL)
    return trading


def fingerprint(feeds: list[Feed], sc: history.Scenario) -> str:
    """A digest of every simulated phase and round and of the node's set-up, so a change is replayed."""
    digest = hashlib.sha256(repr((GENESIS_TIMESTAMP, HARDFORK, DEPLOY_LEAD_SECONDS)).encode())
    artifacts = contracts.build()
    for name in ("EACAggregatorProxy", "FluxAggregator", "OcrStyleAggregator", "Multicall3"):
        digest.update(artifacts[name]["deployedBytecode"].encode())
    for oracle in oracles(feeds):
        digest.update(repr((oracle, history.phases(oracle, sc))).encode())
    uniswap = uniswap_artifacts.build()
    for name in ("UniswapV3Factory", "UniswapV3Pool", "PoolDriver", "LocalToken"):
        digest.update(uniswap[name]["deployedBytecode"].encode())
    digest.update(repr(pools.plan(load_market(), feeds, sc)).encode())
    return digest.hexdigest()


def history_matches(feeds: list[Feed], scenario: history.Scenario, rpc: Rpc | None = None) -> bool:
    """True if the node holds this exact history: same fingerprint replayed, each feed's last served
    round on chain in the phase the proxy serves (the oracle may have published later ones), and
    its historical states (lost when anvil restarts) still there."""
    rpc = rpc or Rpc()
    replayed = json.loads(HISTORY_FILE.read_text()).get("fingerprint") if HISTORY_FILE.exists() else None
    if replayed != fingerprint(feeds, scenario):
        return False
    abi = contracts.build()["EACAggregatorProxy"]["abi"]
    w3 = rpc.web3()
    for feed in oracles(feeds):
        if w3.eth.get_code(feed.proxy) in (b"", None):
            return False
        proxy = w3.eth.contract(feed.proxy, abi=abi)
        last = history.served(history.phases(feed, scenario))[-1].round
        try:
            round_id, answer, _, updated_at, _ = proxy.functions.getRoundData(last.round_id).call()
            latest_id = proxy.functions.latestRoundData().call()[0]
        except ContractLogicError:  # another history: that round (or phase) is not there
            return False
        if (round_id, answer, updated_at) != (last.round_id, last.answer, last.updated_at):
            return False
        if split_round_id(latest_id)[0] != last.phase or latest_id < last.round_id:
            return False
    try:  # block 1 holds the deployments: anvil answers it only while it keeps historical states
        rpc.call("eth_getStorageAt", feeds[0].proxy, "0x0", "0x1")
    except ChainError:
        log.info("the node lost its historical states (restarted): replaying")
        return False
    return True


def scenario() -> history.Scenario:
    """The history this stack holds: its end date is fixed the first time the stack starts."""
    if HISTORY_FILE.exists():
        end = datetime.fromisoformat(json.loads(HISTORY_FILE.read_text())["end"])
    else:
        now = datetime.now(UTC)
        end = now.replace(hour=0, minute=0, second=0, microsecond=0)
        HISTORY_FILE.parent.mkdir(parents=True, exist_ok=True)
        HISTORY_FILE.write_text(json.dumps({"end": end.isoformat(), "label": history.LABEL}))
    return history.Scenario(end)


def ensure_history(feeds: list[Feed], rpc: Rpc | None = None, sc: history.Scenario | None = None) -> dict[str, int]:
    """Replay the history unless the node already holds it, historical states included.

    Callers take turns (a file lock): two test sessions starting together must not replay at once.
    """
    rpc = rpc or Rpc()
    chain_id = int(rpc.call("eth_chainId"), 16)
    if chain_id != ANVIL_CHAIN_ID:
        raise ChainError(f"{rpc.url} answers chain id {chain_id}, expected the local stack's {ANVIL_CHAIN_ID}")
    REPLAY_LOCK.parent.mkdir(parents=True, exist_ok=True)
    with REPLAY_LOCK.open("w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        sc = sc or scenario()
        if history_matches(feeds, sc, rpc):
            return {}
        rpc.call("anvil_reset")
        written = replay(feeds, sc, rpc)
        if rpc.url == ANVIL_URL:
            # The new history's aggregators sit at the same addresses as the old one's (same deployer
            # and nonces), so the project-local Airflow's cached phase switches would be wrong.
            (AIRFLOW_HOME / "cache" / "chainlink_phases.json").unlink(missing_ok=True)
            HISTORY_FILE.write_text(
                json.dumps({"end": sc.end.isoformat(), "label": history.LABEL, "fingerprint": fingerprint(feeds, sc)})
            )
        return written
