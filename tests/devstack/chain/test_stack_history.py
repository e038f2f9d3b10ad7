"""The stack's Arbitrum node: the registry's Arbitrum feeds replayed behind their mainnet proxies on a
chain-42161 anvil, Chainlink's uptime feed with the scripted outage behind Arbitrum One's proxy, read
back exactly by the pipeline's own readers; `devstack sequencer down|up` changes the status on the
living chain, and the chain's oracle publishes nothing while it is down (SIMULATED history)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from chainlink_feeds.hooks import ChainlinkHook
from chainlink_feeds.reader import FeedReader
from chainlink_feeds.registry import Feed, load_market
from chainlink_feeds.sequencer import read_sequencer
from devstack.chain import sequencer, stack_history
from devstack.chain.rpc import Rpc
from devstack.chain.stack_chains import ARBITRUM, stack_chain
from devstack.oracle.service import stack_oracle
from devstack.settings import PROJECT_DIR
from devstack.simulation import history
from devstack.simulation import sequencer as outages
from tests.support.scratch_chain import free_port, scratch_chain

DAY = timedelta(days=1)


@pytest.fixture(scope="module")
def arbitrum_feeds(all_feeds: list[Feed]) -> list[Feed]:
    feeds = ARBITRUM.feeds(all_feeds)
    assert feeds, "the shipped registry has Arbitrum feeds"
    return feeds


def as_tuples(served) -> list[tuple[int, int, int, int, int]]:
    return [(s.round.round_id, s.round.answer, s.round.started_at, s.round.updated_at, s.served_from) for s in served]


def outage_day(stack: history.Scenario) -> datetime:
    (down, _), *_ = outages.outages(stack)
    return datetime.fromtimestamp(down, UTC).replace(hour=0, minute=0, second=0)


def test_each_arbitrum_feed_reads_back_as_its_node_served_it(stack, arbitrum_feeds, truth_by_feed) -> None:
    """The pipeline's reader, through the stack's chainlink_arbitrum connection, on the outage's day
    and the L2 feed's phase-switch day: the carry-in and every round, exactly."""
    hook = ChainlinkHook(chainlink_conn_id=ARBITRUM.conn_id)
    for feed in arbitrum_feeds:
        served = truth_by_feed[feed]
        switch = stack.phase_change(feed).replace(hour=0, minute=0, second=0, microsecond=0)
        for day in (outage_day(stack), switch):
            read = FeedReader(hook, feed).read(day, day + DAY)
            expected = history.rounds_in_window(served, day, day + DAY)
            assert expected, (feed.pair, day)  # the L2 feed published that day
            assert as_tuples(read.rounds) == as_tuples(expected), (feed.pair, day)
            assert as_tuples([read.carry_in]) == as_tuples([history.carry_in(served, day)]), (feed.pair, day)


def test_no_arbitrum_round_is_served_while_the_sequencer_is_down(stack, arbitrum_feeds, truth_by_feed) -> None:
    for feed in arbitrum_feeds:
        for down, up in outages.outages(stack):
            assert not [s for s in truth_by_feed[feed] if down <= s.served_from < up], feed.pair
        # ... while Ethereum's same pair went on publishing through it (the market was not halted)
        assert stack.start.timestamp() < outages.outages(stack)[0][0] < stack.end.timestamp()


def test_the_uptime_feed_holds_the_scripted_outage(stack) -> None:
    """Read as the chain's task reads it: every status change, up since the deployment, then each
    scripted change at its L1 time."""
    entry = load_market().sequencer("arbitrum")
    assert entry is not None
    read = read_sequencer(ChainlinkHook(chainlink_conn_id=ARBITRUM.conn_id), entry, stack.end)
    changes = [(r.is_down, r.changed_at) for r in read.rounds]
    assert changes[0][0] is False and changes[0][1] < stack.start.timestamp()  # initialized up, before the history
    assert changes[1:] == [(down, at) for at, down in outages.status_changes(stack)]


@pytest.fixture(scope="module")
def living_arbitrum(stack, arbitrum_feeds) -> Iterator[Rpc]:
    """A chain-42161 scratch node holding the stack's Arbitrum history (the shared node stays as it is)."""
    with scratch_chain(chain_id=ARBITRUM.chain_id, port=free_port()) as rpc:
        stack_history.replay(arbitrum_feeds, stack, rpc, ARBITRUM)
        yield rpc


def sequencer_command(rpc: Rpc, action: str) -> subprocess.CompletedProcess:
    port = rpc.url.rsplit(":", 1)[1]
    return subprocess.run(
        [sys.executable, "-m", "devstack", "sequencer", action],
        capture_output=True, text=True, cwd=PROJECT_DIR, timeout=120,
        env=os.environ | {"PYTHONPATH": f"{PROJECT_DIR / 'plugins'}:{PROJECT_DIR}", "PEG_ARBITRUM_ANVIL_PORT": port},
    )  # fmt: skip


def test_the_sequencer_command_takes_it_down_and_up_and_the_oracle_waits(living_arbitrum, stack, tmp_path) -> None:
    rpc = living_arbitrum
    entry = load_market().sequencer("arbitrum")
    oracle = stack_oracle(rpc.url, stack.end, tmp_path / "moves.json", chain="arbitrum")
    assert [f.chain for f in oracle.feeds] == ["arbitrum"] * len(oracle.feeds)

    down = sequencer_command(rpc, "down")
    assert down.returncode == 0, down.stderr
    assert "arbitrum sequencer DOWN since" in down.stdout and "SIMULATED" in down.stdout
    latest = sequencer.status(rpc, entry.sequencer_uptime_feed)
    assert latest.down and abs(latest.started_at - time.time()) < 60

    again = sequencer_command(rpc, "down")
    assert again.returncode == 1 and "ignored down" in again.stderr and "it is down since" in again.stderr

    # A day later on the chain: the feeds' heartbeats are due, but nothing reaches a halted L2.
    assert oracle.publish_until(time.time() + DAY.total_seconds()) == []
    assert oracle.status()["halted"] is True

    up = sequencer_command(rpc, "up")
    assert up.returncode == 0, up.stderr
    assert not sequencer.status(rpc, entry.sequencer_uptime_feed).down
    shown = sequencer_command(rpc, "status")
    assert shown.returncode == 0 and shown.stdout.startswith("arbitrum sequencer up since "), shown
    published = oracle.publish_until(time.time() + 2 * DAY.total_seconds())
    assert {p.round.pair for p in published} == {f.pair for f in oracle.feeds}  # the heartbeats land again
    assert oracle.status()["halted"] is False


def test_the_sequencer_command_names_a_chain_without_one(stack) -> None:
    out = subprocess.run(
        [sys.executable, "-m", "devstack", "sequencer", "status", "--chain", "ethereum"],
        capture_output=True, text=True, cwd=PROJECT_DIR,
        env=os.environ | {"PYTHONPATH": f"{PROJECT_DIR / 'plugins'}:{PROJECT_DIR}"},
    )  # fmt: skip
    assert out.returncode == 1 and "no sequencer uptime feed for ethereum" in out.stderr
    assert stack_chain("arbitrum") is ARBITRUM


def test_the_sequencer_command_names_a_node_that_is_not_running(stack) -> None:
    stopped = subprocess.run(
        [sys.executable, "-m", "devstack", "sequencer", "status"],
        capture_output=True, text=True, cwd=PROJECT_DIR,
        env=os.environ | {"PYTHONPATH": f"{PROJECT_DIR / 'plugins'}:{PROJECT_DIR}", "PEG_ARBITRUM_ANVIL_PORT": str(free_port())},
    )  # fmt: skip
    assert stopped.returncode == 1 and "did not answer" in stopped.stderr and "Traceback" not in stopped.stderr


@pytest.fixture
def history_file(tmp_path, monkeypatch) -> Path:
    """The stack's history file (and its lock) in a scratch directory."""
    monkeypatch.setattr(stack_history, "HISTORY_FILE", tmp_path / "history.json")
    monkeypatch.setattr(stack_history, "HISTORY_LOCK", tmp_path / "history.lock")
    return tmp_path / "history.json"


def test_the_history_file_keeps_its_length_until_another_is_asked_for(history_file) -> None:
    """A demo's stack fixes a short history; later callers get it; the tests' whole history is
    another one, which no node holds yet (so each replays), and is kept from then on."""
    short = stack_history.scenario(first_days=history.SHORTEST_DAYS)
    assert short.days == history.SHORTEST_DAYS and short.end.hour == 0
    assert json.loads(history_file.read_text())["days"] == history.SHORTEST_DAYS
    stack_history._record(short, ARBITRUM, "replayed")
    assert stack_history.scenario() == short
    assert stack_history.replayed_fingerprint(ARBITRUM) == "replayed"

    whole = stack_history.scenario(history.HISTORY_DAYS)
    assert (whole.end, whole.days) == (short.end, history.HISTORY_DAYS)
    assert stack_history.replayed_fingerprint(ARBITRUM) is None
    assert stack_history.scenario(first_days=history.SHORTEST_DAYS) == whole


def test_a_history_file_without_a_length_holds_the_whole_history(history_file) -> None:
    """Written before lengths were recorded: the whole history, its node's fingerprint kept."""
    history_file.write_text(json.dumps({"end": "2026-12-07T00:00:00+00:00", "fingerprint": "replayed"}))
    sc = stack_history.scenario(first_days=history.SHORTEST_DAYS)
    assert sc == history.Scenario(datetime(2026, 12, 7, tzinfo=UTC), history.HISTORY_DAYS)
    assert stack_history.replayed_fingerprint(stack_history.ETHEREUM) == "replayed"


def test_a_length_the_history_cannot_have_is_refused_and_the_file_kept(history_file) -> None:
    held = stack_history.scenario(first_days=history.SHORTEST_DAYS)
    kept = history_file.read_text()
    with pytest.raises(
        ValueError, match=f"history days must be {history.SHORTEST_DAYS}..{history.HISTORY_DAYS}, got 7"
    ):
        stack_history.scenario(7)
    assert history_file.read_text() == kept and stack_history.scenario() == held


def test_days_before_the_held_history_are_named() -> None:
    sc = history.Scenario(datetime(2026, 12, 7, tzinfo=UTC), history.SHORTEST_DAYS)
    stack_history.check_held(sc, sc.start, "35 days")
    with pytest.raises(
        ValueError, match=r"36 days from 2026-11-01 start before the stack's 35-day history \(2026-11-02 on\)"
    ):
        stack_history.check_held(sc, sc.start - DAY, "36 days")
