"""The stack's nodes hold the simulated history: which one (`.stack/history.json`), whether each
node holds its chain's part, and replaying it when it does not (a new history, or a node restarted
without its states).

Each node (devstack.chain.stack_chains) gets its chain's feeds and references; Ethereum's also the
pools and their trading, an L2's also its sequencer uptime feed with the scripted outages
(devstack.simulation.sequencer)."""

from __future__ import annotations

import fcntl
import hashlib
import json
import logging
import time
from datetime import UTC, datetime
from pathlib import Path

from web3.exceptions import ContractLogicError

from chainlink_feeds.registry import Feed, Reference, load_market
from chainlink_feeds.rounds import split_round_id
from devstack.chain import contracts, sequencer
from devstack.chain.node import GENESIS_TIMESTAMP, HARDFORK
from devstack.chain.replay import head_timestamp, node_account, replay_many
from devstack.chain.rpc import ChainError, Rpc
from devstack.chain.stack_chains import ETHEREUM, StackChain
from devstack.chain.uniswap import artifacts as uniswap_artifacts
from devstack.chain.uniswap import create_pool, deploy_uniswap, drive_call
from devstack.settings import AIRFLOW_HOME, STACK_DIR
from devstack.simulation import history, pools
from devstack.simulation import sequencer as sequencer_history

log = logging.getLogger(__name__)

HISTORY_FILE = STACK_DIR / "history.json"
REPLAY_LOCK = STACK_DIR / "anvil" / "replay.lock"
HISTORY_LOCK = STACK_DIR / "history.lock"  # held while HISTORY_FILE is rewritten
DEPLOY_LEAD_SECONDS = 3600  # the stack's contracts are deployed this long before its history starts


def replay_lock(chain: StackChain) -> Path:
    """Held while the chain's node is replayed, and by its oracle while it publishes there."""
    return REPLAY_LOCK if chain is ETHEREUM else REPLAY_LOCK.with_name(f"replay-{chain.name}.lock")


def replay(
    feeds: list[Feed], scenario: history.Scenario, rpc: Rpc | None = None, chain: StackChain = ETHEREUM
) -> dict[str, int]:
    """Write the simulated history of the chain's feeds and references onto its node, with the pools'
    trading (Ethereum) or the sequencer's uptime feed and outages (an L2); return rounds written per pair.

    Ends with a block at the history's end unless a round landed later: the oracle (devstack.oracle)
    publishes the market from there to now, in blocks that must not be older than the latest.
    """
    rpc = rpc or Rpc(chain.url)
    plans = {oracle: history.phases(oracle, scenario) for oracle in oracles(feeds, chain.name)}
    scheduled = _pools_trading(rpc, chain.feeds(feeds), scenario) if load_market().pools_on(chain.name) else {}
    for at, call in _sequencer_updates(rpc, chain, scenario):
        scheduled.setdefault(at, []).append(call)
    deployed_at = int(scenario.start.timestamp()) - DEPLOY_LEAD_SECONDS
    replay_many(rpc, plans, deployed_at=deployed_at, transactions=scheduled)
    if head_timestamp(rpc) < scenario.end.timestamp():
        rpc.call("evm_mine", int(scenario.end.timestamp()))
    for feed, feed_phases in plans.items():
        log.info("replayed %s rounds of %s (%s)", sum(len(p.rounds) for p in feed_phases), feed.pair, history.LABEL)
    return {feed.pair: sum(len(p.rounds) for p in feed_phases) for feed, feed_phases in plans.items()}


def oracles(feeds: list[Feed], chain: str = "ethereum") -> list[Feed | Reference]:
    """The chain's feeds and the registry's references on it (ETH/USD: it prices the WETH pools):
    every price proxy the chain's node serves."""
    return [*(f for f in feeds if f.chain == chain), *(r for r in load_market().references if r.chain == chain)]


def _sequencer_updates(rpc: Rpc, chain: StackChain, scenario: history.Scenario) -> list[tuple[int, tuple[str, str]]]:
    """On an L2 with a `chains:` entry: its uptime feed deployed behind the registry's proxy address
    (initialized up, before the history), and the scripted outages' status changes as (L1 time,
    transaction) from the node's first account, the L1 sender's alias here."""
    entry = load_market().sequencer(chain.name)
    if entry is None:
        return []
    uptime = sequencer.deploy(
        rpc, proxy_at=entry.sequencer_uptime_feed, l1_sender=sequencer.unaliased(node_account(rpc))
    )
    return [(at, sequencer.status_update(uptime, down, at)) for at, down in sequencer_history.status_changes(scenario)]


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


def fingerprint(feeds: list[Feed], sc: history.Scenario, chain: StackChain = ETHEREUM) -> str:
    """A digest of every simulated phase and round of the chain and of its node's set-up, so a
    change is replayed."""
    market = load_market()
    digest = hashlib.sha256(repr((GENESIS_TIMESTAMP, HARDFORK, DEPLOY_LEAD_SECONDS)).encode())
    artifacts = contracts.build()
    for name in ("EACAggregatorProxy", "FluxAggregator", "OcrStyleAggregator", "Multicall3"):
        digest.update(artifacts[name]["deployedBytecode"].encode())
    for oracle in oracles(feeds, chain.name):
        digest.update(repr((oracle, history.phases(oracle, sc))).encode())
    if market.pools_on(chain.name):
        uniswap = uniswap_artifacts.build()
        for name in ("UniswapV3Factory", "UniswapV3Pool", "PoolDriver", "LocalToken"):
            digest.update(uniswap[name]["deployedBytecode"].encode())
        digest.update(repr(pools.plan(market, chain.feeds(feeds), sc)).encode())
    entry = market.sequencer(chain.name)
    if entry is not None:
        for name in ("ArbitrumSequencerUptimeFeed", "Flags", "SimpleWriteAccessController"):
            digest.update(artifacts[name]["deployedBytecode"].encode())
        digest.update(repr((entry.sequencer_uptime_feed, sequencer_history.status_changes(sc))).encode())
    return digest.hexdigest()


def replayed_fingerprint(chain: StackChain) -> str | None:
    """The fingerprint of the history last replayed onto the chain's node (None: never). A file
    written before the L2 node holds Ethereum's alone, as `fingerprint`."""
    recorded = json.loads(HISTORY_FILE.read_text()) if HISTORY_FILE.exists() else {}
    return recorded.get("fingerprints", {ETHEREUM.name: recorded.get("fingerprint")}).get(chain.name)


def history_matches(
    feeds: list[Feed], scenario: history.Scenario, rpc: Rpc | None = None, chain: StackChain = ETHEREUM
) -> bool:
    """True if the chain's node holds this exact history: same fingerprint replayed, each feed's last
    served round on chain in the phase the proxy serves (the oracle may have published later ones),
    the sequencer's last scripted change (an L2; `devstack sequencer` may have made later ones), and
    its historical states (lost when anvil restarts) still there."""
    rpc = rpc or Rpc(chain.url)
    if replayed_fingerprint(chain) != fingerprint(feeds, scenario, chain):
        return False
    if not _sequencer_matches(rpc, chain, scenario):
        return False
    abi = contracts.build()["EACAggregatorProxy"]["abi"]
    w3 = rpc.web3()
    chain_oracles = oracles(feeds, chain.name)
    for feed in chain_oracles:
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
        rpc.call("eth_getStorageAt", chain_oracles[0].proxy, "0x0", "0x1")
    except ChainError:
        log.info("the node lost its historical states (restarted): replaying")
        return False
    return True


def _sequencer_matches(rpc: Rpc, chain: StackChain, scenario: history.Scenario) -> bool:
    """On an L2: its uptime proxy holds code and served the last scripted change at its time."""
    entry = load_market().sequencer(chain.name)
    if entry is None:
        return True
    if rpc.call("eth_getCode", entry.sequencer_uptime_feed, "latest") in ("0x", None):
        return False
    changes = sequencer_history.status_changes(scenario)
    if not changes:
        return True
    at, down = changes[-1]
    uptime = sequencer.behind(rpc, entry.sequencer_uptime_feed)
    try:
        served = sequencer.round_at(rpc, uptime, len(changes) + 1)
    except ContractLogicError:
        return False
    return (served.answer, served.started_at) == (int(down), at)


def scenario(days: int | None = None, first_days: int = history.HISTORY_DAYS) -> history.Scenario:
    """The history this stack holds: its end date is fixed the first time the stack starts, its length
    then too (`first_days`) unless a caller asks for another (`days`: the tests ask for the whole
    history, which a demo's short one is not); the nodes replay what the file then says."""
    HISTORY_LOCK.parent.mkdir(parents=True, exist_ok=True)
    with HISTORY_LOCK.open("w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        recorded = json.loads(HISTORY_FILE.read_text()) if HISTORY_FILE.exists() else None
        if recorded is None:
            end, held = datetime.now(UTC).replace(hour=0, minute=0, second=0, microsecond=0), first_days
        else:  # a file written before the length was recorded holds the whole history
            end, held = datetime.fromisoformat(recorded["end"]), recorded.get("days", history.HISTORY_DAYS)
        sc = history.Scenario(end, held if days is None else days)
        if recorded is None or sc.days != held:  # another length is another history: no node holds it yet
            _write({"end": end.isoformat(), "days": sc.days, "label": history.LABEL, "fingerprints": {}})
    return sc


def check_held(sc: history.Scenario, first: datetime, asked: str) -> None:
    """ValueError naming what was `asked` if it starts before the history the stack holds (a demo's
    is short), and how to get the whole one."""
    if first < sc.start:
        raise ValueError(
            f"{asked} from {first.date()} start before the stack's {sc.days}-day history ({sc.start.date()} on): "
            "ask for fewer, or replay the whole one (PEG_DEMO_HISTORY_DAYS=200 make demo)"
        )


def _write(entry: dict) -> None:
    """Replace HISTORY_FILE whole (its readers never see half of it)."""
    written = HISTORY_FILE.with_suffix(".json.tmp")
    written.write_text(json.dumps(entry, indent=2))
    written.replace(HISTORY_FILE)


def ensure_history(
    feeds: list[Feed], rpc: Rpc | None = None, sc: history.Scenario | None = None, chain: StackChain = ETHEREUM
) -> dict[str, int]:
    """Replay the chain's part of the history unless its node already holds it, historical states included.

    Callers take turns (a file lock per node): two test sessions starting together must not replay at once.
    """
    rpc = rpc or Rpc(chain.url)
    chain_id = int(rpc.call("eth_chainId"), 16)
    if chain_id != chain.chain_id:
        raise ChainError(
            f"{rpc.url} answers chain id {chain_id}, expected the local stack's {chain.name} ({chain.chain_id})"
        )
    lock_file = replay_lock(chain)
    lock_file.parent.mkdir(parents=True, exist_ok=True)
    with lock_file.open("w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        sc = sc or scenario()
        if history_matches(feeds, sc, rpc, chain):
            return {}
        rpc.call("anvil_reset")
        written = replay(feeds, sc, rpc, chain)
        if rpc.url == chain.url:
            # The new history's aggregators sit at the same addresses as the old one's (same deployer
            # and nonces), so the project-local Airflow's cached phase switches would be wrong.
            (AIRFLOW_HOME / "cache" / "chainlink_phases.json").unlink(missing_ok=True)
            _record(sc, chain, fingerprint(feeds, sc, chain))
        return written


def _record(sc: history.Scenario, chain: StackChain, digest: str) -> None:
    """Write down that the chain's node now holds this history (the other nodes' entries are kept
    while the history's end and length are the same). The nodes replay side by side: their writes take turns
    (a lock of its own) and each replaces the file whole."""
    with HISTORY_LOCK.open("w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        recorded = json.loads(HISTORY_FILE.read_text()) if HISTORY_FILE.exists() else {}
        same = (recorded.get("end"), recorded.get("days", history.HISTORY_DAYS)) == (sc.end.isoformat(), sc.days)
        kept = recorded.get("fingerprints", {}) if same else {}
        _write(
            {
                "end": sc.end.isoformat(),
                "days": sc.days,
                "label": history.LABEL,
                "fingerprints": kept | {chain.name: digest},
            }
        )


def uptime_feed(chain: StackChain) -> str:
    """The proxy of the chain's sequencer uptime feed; ChainError on a chain without a `chains:` entry."""
    entry = load_market().sequencer(chain.name)
    if entry is None:
        raise ChainError(f"the registry has no sequencer uptime feed for {chain.name}: no `chains:` entry")
    return entry.sequencer_uptime_feed


def sequencer_status(chain: StackChain) -> sequencer.UptimeRound:
    """The round the chain's uptime proxy serves now; ChainError naming the node if it does not answer."""
    rpc = Rpc(chain.url)
    proxy = uptime_feed(chain)
    head_timestamp(rpc)  # a stopped node is named, not a web3 traceback
    return sequencer.status(rpc, proxy)


def set_sequencer(chain: StackChain, down: bool) -> sequencer.UptimeRound:
    """Take the chain's sequencer down (or bring it back) now on its living node: the status change
    at the wall-clock time, in a block of its own, while the chain's oracle waits (the replay lock);
    the round the uptime proxy now serves. SIMULATED, as the rest of the history."""
    proxy = uptime_feed(chain)
    rpc = Rpc(chain.url)
    lock_file = replay_lock(chain)
    lock_file.parent.mkdir(parents=True, exist_ok=True)
    with lock_file.open("w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        at = max(int(time.time()), head_timestamp(rpc) + 1)
        rpc.call("evm_setNextBlockTimestamp", at)
        sequencer.set_status(rpc, sequencer.behind(rpc, proxy), down, at)
    return sequencer.status(rpc, proxy)
