"""The living chain: the local oracle publishes by the heartbeat / deviation rule, through the
history's contracts, reproducibly, in blocks in time order; a market move opens and closes a depeg.

Chain tests run on scratch nodes holding a short history of the registry's feeds (a Flux phase,
then an OCR phase whose last round is the oracle's starting point); a fake clock drives the
catch-up tests, the wall clock the live ones.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
import time
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest
import requests

from chainlink_feeds.hooks import ChainlinkHook
from chainlink_feeds.reader import FeedReader
from devstack.chain import contracts, stack_history
from devstack.chain.replay import head_timestamp, mine_rounds
from devstack.chain.rpc import ChainError, Rpc
from devstack.oracle import service as oracle
from devstack.oracle.market import LiveMarket, Move, MoveError, Walk, add_move, continuing, load_moves
from devstack.oracle.publisher import Oracle
from devstack.oracle.rule import (
    DEVIATION,
    FIRST,
    HEARTBEAT,
    heartbeat_due,
    heartbeat_late,
    reason_to_publish,
    rounds_between,
)
from devstack.settings import LOG_DIR, PROJECT_DIR
from devstack.simulation import history
from tests.support.scratch_chain import free_port, scratch_chain, web3
from tests.support.short_history import H, plan, replayed

END = datetime(2026, 3, 2, tzinfo=UTC)  # a history's end for the fake-clock tests
CONN_ID = "chainlink_oracle"


def proxy(rpc: Rpc, feed):
    return web3(rpc).eth.contract(feed.proxy, abi=contracts.build()["EACAggregatorProxy"]["abi"])


def chain_rounds(rpc: Rpc, feed, after_round: int = 2) -> list[tuple[int, int, int]]:
    """(proxy round id, answer, updatedAt) of the OCR phase's rounds after `after_round`, through the proxy."""
    p = proxy(rpc, feed)
    latest = p.functions.latestRoundData().call()[0]
    rows = []
    for round_id in range((2 << 64) | (after_round + 1), latest + 1):
        rid, answer, started, updated, answered = p.functions.getRoundData(round_id).call()
        assert (rid, started, answered) == (round_id, updated, round_id)
        rows.append((rid, answer, updated))
    return rows


def block_times(rpc: Rpc) -> list[int]:
    head = int(rpc.call("eth_blockNumber"), 16)
    blocks = rpc.batch([("eth_getBlockByNumber", [hex(n), False]) for n in range(head + 1)])
    return [int(b["timestamp"], 16) for b in blocks]


def assert_by_the_rule(
    feed, last: history.SimRound, rounds: list[tuple[int, int, int]], walk: Walk, until: int
) -> None:
    """Each round follows its predecessor by a deviation of at least the threshold, or lands 1 to 300 s
    (on the market grid) after the heartbeat expired, or at the oracle's first market step if it had
    expired before; no heartbeat is missed before `until`."""
    threshold = float(feed.deviation_threshold_pct) / 100
    late_max = min(300, feed.heartbeat_seconds // 10)
    first_step = walk.origin + walk.step
    prev_answer, prev_at = last.answer, last.updated_at
    for _, answer, at in rounds:
        moved = abs(answer - prev_answer) / prev_answer >= threshold
        due = prev_at + feed.heartbeat_seconds
        heartbeat = due < at <= max(due + late_max + walk.step, first_step)
        assert moved or heartbeat, (feed.pair, prev_at, at, prev_answer, answer)
        prev_answer, prev_at = answer, at
    assert until - prev_at <= feed.heartbeat_seconds + late_max + walk.step, (feed.pair, "missed a heartbeat")


# -- the rule and the market, as pure functions ------------------------------------------------------------


def test_the_rule_publishes_on_deviation_and_after_the_heartbeat(feed_by_pair) -> None:
    feed = feed_by_pair["DAI/USD"]  # 0.25 %, 1 h heartbeat
    last = history.SimRound(feed.pair, 2, 7, 100_000_000, 1_000_000, 1_000_000, 7)
    assert reason_to_publish(feed, None, 1_000_010, 100_000_000) == FIRST
    assert reason_to_publish(feed, last, 1_000_010, 100_250_000) == DEVIATION
    assert reason_to_publish(feed, last, 1_000_010, 99_750_000) == DEVIATION
    assert reason_to_publish(feed, last, 1_000_010, 100_249_999) is None
    due = heartbeat_due(feed, last)
    late = due - last.updated_at - feed.heartbeat_seconds
    assert 1 <= late <= 300 and late == heartbeat_late(feed.pair, feed.heartbeat_seconds, last.updated_at)
    assert reason_to_publish(feed, last, due - 1, 100_000_001) is None
    assert reason_to_publish(feed, last, due, 100_000_001) == HEARTBEAT
    lates = {heartbeat_late(feed.pair, 86_400, t) for t in range(1_000_000, 1_000_400)}
    assert min(lates) >= 1 and max(lates) <= 300 and len(lates) > 100  # spread over the history's 1..300 s
    assert max(heartbeat_late(feed.pair, 20, t) for t in range(100)) <= 2  # a tenth of a short heartbeat


def test_rounds_between_follows_the_rule_and_splits_anywhere(feed_by_pair) -> None:
    feed = feed_by_pair["DAI/USD"]
    walk = continuing(feed, history.Scenario(END))
    last = history.SimRound(feed.pair, 2, 40, round(walk.peg * (1 + walk.x0) * 1e8), walk.origin, walk.origin, 40)
    until = walk.origin + 30 * H
    market = LiveMarket(walk, [Move(feed.pair, "0.97", walk.origin + 5 * H, walk.origin + 5 * H + 1200)])
    whole = rounds_between(feed, market, 2, last, walk.origin, until)
    rounds = [(p.round.round_id, p.round.answer, p.round.updated_at) for p in whole]
    assert [p.round.aggregator_round for p in whole] == list(range(41, 41 + len(whole)))
    assert_by_the_rule(feed, last, rounds, walk, until)
    assert {p.reason for p in whole} == {DEVIATION, HEARTBEAT}
    assert len([p for p in whole if p.reason == HEARTBEAT]) >= 20  # about hourly
    # Split at any moment (a stop, a restart), from the last round published: the same rounds.
    cut = walk.origin + 5 * H + 600
    first = [p for p in whole if p.round.updated_at <= cut]
    rest = rounds_between(feed, LiveMarket(walk, market.moves), 2, first[-1].round, cut, until)
    assert first + rest == whole


def test_the_market_continues_the_history_walk_deterministically(feed_by_pair) -> None:
    feed = feed_by_pair["USDT/USD"]
    sc = history.Scenario(END)
    walk = continuing(feed, sc)
    assert walk.origin == END.timestamp() and walk.step == 10
    assert walk.peg * (1 + walk.x0) == pytest.approx(history.market_path(feed, sc)[-1][1])
    a, b = LiveMarket(walk), LiveMarket(walk)
    times = [walk.origin + walk.step * k for k in (1, 2, 500, 8640)]
    forward = [a.answer(t) for t in times]
    assert [b.answer(t) for t in reversed(times)] == list(reversed(forward))  # any order, same answers
    day = [a.answer(t) / 1e8 for t in walk.grid_after(walk.origin, walk.origin + 24 * H)]
    assert len(day) == 8640 and min(day) > 0.99 and max(day) < 1.01  # around the peg, as the history's walk
    assert 0.0002 < (sum((p - 1) ** 2 for p in day) / len(day)) ** 0.5 < 0.005
    with pytest.raises(ValueError, match="not a grid point"):
        a.answer(walk.origin + 5)
    other = continuing(feed, history.Scenario(END + timedelta(days=1)))
    assert LiveMarket(other).answer(other.origin + 10) != LiveMarket(walk).answer(walk.origin + 10)


def test_a_move_sets_the_level_then_the_walk_returns(feed_by_pair, tmp_path) -> None:
    feed = feed_by_pair["USDC/USD"]
    walk = continuing(feed, history.Scenario(END))
    now = walk.origin + 3 * H + 0.5
    move = add_move(tmp_path / "moves.json", [feed], "USDC/USD", "0.97", 20, now, walk.step)
    assert (move.start, move.end) == (walk.origin + 3 * H + 20, walk.origin + 3 * H + 20 + 1200)  # on a market step
    assert load_moves(tmp_path / "moves.json") == [move]
    market = LiveMarket(walk, [move])
    inside = [market.answer(t) / 1e8 for t in walk.grid_after(move.start - 1, move.end - 1)]
    assert len(inside) == 120 and all(0.96 < p < 0.98 for p in inside)
    after = [market.answer(t) / 1e8 for t in walk.grid_after(move.end - 1, move.end + 600)]
    assert all(0.99 < p < 1.01 for p in after)
    before = move.start - walk.step
    assert market.answer(before) == LiveMarket(walk).answer(before)  # before it: the walk


def test_a_ramped_move_publishes_about_a_round_a_minute_each_way(feed_by_pair, tmp_path) -> None:
    """What the latency benchmark's live depeg needs: 1.00 -> 0.97 over 12 minutes crosses the 0.25 %
    threshold about once a minute, and so does the way back."""
    feed = feed_by_pair["USDC/USD"]
    walk = continuing(feed, history.Scenario(END))
    move = add_move(tmp_path / "moves.json", [feed], feed.pair, "0.97", 30, walk.origin + H, walk.step, 12)
    assert move.ramp == 720 and load_moves(tmp_path / "moves.json") == [move]
    last = history.SimRound(feed.pair, 2, 1, 100_000_000, walk.origin, walk.origin, 1)
    published = rounds_between(feed, LiveMarket(walk, [move]), 2, last, walk.origin, walk.origin + 3 * H)
    down = [p.round for p in published if move.start <= p.round.updated_at < move.start + move.ramp]
    up = [p.round for p in published if move.end - move.ramp <= p.round.updated_at <= move.end]
    for leg in (down, up):
        assert 9 <= len(leg) <= 16 and all(p.reason == DEVIATION for p in published if p.round in leg)
        assert max(b.updated_at - a.updated_at for a, b in zip(leg, leg[1:], strict=False)) <= 150
    assert min(p.round.answer for p in published) < 97_300_000
    with pytest.raises(MoveError, match="--ramp-minutes 16 for USDC/USD must be between 0 and half of --minutes 30"):
        add_move(tmp_path / "moves.json", [feed], feed.pair, "0.97", 30, walk.origin, walk.step, 16)


def test_a_feed_pegged_to_a_reference_wanders_around_its_live_market(feed_by_pair) -> None:
    """EURC's live walk goes on from where its history ended, around EUR/USD's live price (its peg),
    not around $1; it cannot run without that market."""
    sc = history.Scenario(END)
    eurc = feed_by_pair["EURC/USD"]
    walk, eur_walk = continuing(eurc, sc), continuing(history.peg_reference(eurc), sc)
    assert (walk.peg_pair, walk.peg) == ("EUR/USD", 1.0)
    eur = LiveMarket(eur_walk)
    market = LiveMarket(walk, peg_market=eur)
    first = walk.origin + walk.step
    assert market.price(first) == pytest.approx(history.market_path(eurc, sc)[-1][1], rel=0.005)
    for at in range(first, first + 2 * H, 60 * walk.step):  # two hours, every ten minutes
        assert market.price(at) == pytest.approx(eur.price(at), rel=0.01)  # within 1 % of a euro
        assert abs(market.price(at) - 1) > 0.01  # and a euro is not a dollar here
    with pytest.raises(ValueError, match="its peg market must be EUR/USD's"):
        LiveMarket(walk)


@pytest.mark.parametrize(
    ("pair", "price", "minutes", "message"),
    [
        ("GBP/USD", "0.97", 20, "unknown pair 'GBP/USD': the registry has DAI/USD, EURC/USD, FDUSD/USD, .*, USDT/USD"),
        ("USDC/USD", "abc", 20, "price 'abc' for USDC/USD is not a number"),
        ("USDC/USD", "0", 20, "price '0' for USDC/USD must be between"),
        ("USDC/USD", "NaN", 20, "price 'NaN' for USDC/USD must be between"),
        ("USDC/USD", "0.97", 0, "--minutes 0 for USDC/USD must be more than 0"),
    ],
)
def test_a_bad_move_is_refused_naming_what_is_wrong(feeds, tmp_path, pair, price, minutes, message) -> None:
    with pytest.raises(MoveError, match=message.replace("(", r"\(")):
        add_move(tmp_path / "moves.json", feeds, pair, price, minutes, 1_700_000_000, 10)
    assert not (tmp_path / "moves.json").exists()


# -- on a chain, with a fake clock ------------------------------------------------------------------------


@pytest.fixture(scope="module")
def usd_feeds(feeds) -> list:
    """The feeds pegged to a constant: these chains' short histories hold no reference, and a feed
    pegged to one (EURC to EUR/USD) wanders around its reference's market (the service test has both)."""
    return [f for f in feeds if not f.peg_reference]


@pytest.fixture(scope="module")
def two_chains(usd_feeds, tmp_path_factory):
    """Two scratch nodes with the same short history of every registry feed and a USDC move
    4 h after the history's end; one catches up to +6 h in one go, the other stops at +3 h and
    restarts. Yields (rpc_through, rpc_restarted, moves file)."""
    end = int(END.timestamp())
    moves = tmp_path_factory.mktemp("oracle") / "moves.json"
    add_move(moves, usd_feeds, "USDC/USD", "0.97", 20, end + 4 * H, 10)
    walks = {f.pair: continuing(f, history.Scenario(END)) for f in usd_feeds}
    with scratch_chain(port=free_port()) as through, scratch_chain(port=free_port()) as restarted:
        replayed(through, usd_feeds, end)
        replayed(restarted, usd_feeds, end)
        Oracle(through, usd_feeds, walks, moves).publish_until(end + 6 * H)
        Oracle(restarted, usd_feeds, walks, moves).publish_until(end + 3 * H + 5)
        Oracle(restarted, usd_feeds, walks, moves).publish_until(end + 6 * H)  # a new process: reads the chain
        yield through, restarted, moves


def test_catch_up_publishes_by_the_rule_through_the_proxy(two_chains, usd_feeds) -> None:
    rpc, _, moves = two_chains
    end = int(END.timestamp())
    for feed in usd_feeds:
        walk = continuing(feed, history.Scenario(END))
        last = plan(feed, end)[1].rounds[-1]
        rounds = chain_rounds(rpc, feed)
        expected = rounds_between(feed, LiveMarket(walk, load_moves(moves)), 2, last, end, end + 6 * H)
        assert rounds == [(p.round.round_id, p.round.answer, p.round.updated_at) for p in expected], feed.pair
        assert_by_the_rule(feed, last, rounds, walk, end + 6 * H)
    dai = chain_rounds(rpc, next(f for f in usd_feeds if f.pair == "DAI/USD"))
    assert len(dai) >= 6  # hourly heartbeats (its last history round was 2 h before the end: one at once)


def test_a_move_opens_and_closes_a_depeg(two_chains, feed_by_pair) -> None:
    rpc, _, moves = two_chains
    (move,) = load_moves(moves)
    rounds = chain_rounds(rpc, feed_by_pair["USDC/USD"])
    opened = [r for r in rounds if r[1] < 98_000_000]
    assert opened and opened[0][2] == move.start  # the move's first market step
    assert all(move.start <= r[2] < move.end for r in opened)
    closed = next(r for r in rounds if r[2] >= move.end)
    assert closed[2] == move.end and abs(closed[1] - 100_000_000) < 1_000_000  # back to the walk at once


def test_a_stop_and_catch_up_reproduce_the_same_rounds_in_time_ordered_blocks(two_chains, usd_feeds) -> None:
    through, restarted, _ = two_chains
    for feed in usd_feeds:
        assert chain_rounds(restarted, feed) == chain_rounds(through, feed), feed.pair
    for rpc in (through, restarted):
        times = block_times(rpc)
        assert times == sorted(times)


def test_catch_up_never_mines_before_the_head(usd_feeds, tmp_path) -> None:
    end = int(END.timestamp())
    walks = {f.pair: continuing(f, history.Scenario(END)) for f in usd_feeds}
    with scratch_chain(port=free_port()) as rpc:
        replayed(rpc, usd_feeds, end)
        rpc.call("evm_mine", end + 2 * H)  # a block someone else mined while the oracle was away
        head_block = int(rpc.call("eth_blockNumber"), 16)
        published = Oracle(rpc, usd_feeds, walks, tmp_path / "moves.json").publish_until(end + 4 * H)
        assert published and min(p.round.updated_at for p in published) > end + 2 * H
        assert all(t > end + 2 * H for t in block_times(rpc)[head_block + 1 :])
        with pytest.raises(ChainError, match="older than the node's latest block"):
            mine_rounds(rpc, end + H, [])


def test_a_replay_under_the_running_oracle_is_read_again(usd_feeds, tmp_path) -> None:
    """`make stack-up` may reset and replay the node while the oracle runs: its next tick starts over
    from the replayed history's last rounds instead of numbering on from rounds that are gone."""
    end = int(END.timestamp())
    walks = {f.pair: continuing(f, history.Scenario(END)) for f in usd_feeds}
    with scratch_chain(port=free_port()) as rpc:
        replayed(rpc, usd_feeds, end)
        service = Oracle(rpc, usd_feeds, walks, tmp_path / "moves.json")
        service.publish_until(end + 3 * H)
        rpc.call("anvil_reset")
        replayed(rpc, usd_feeds, end)
        service.publish_until(end + 6 * H)
        for feed in usd_feeds:
            last = plan(feed, end)[1].rounds[-1]
            expected = rounds_between(feed, LiveMarket(walks[feed.pair]), 2, last, end, end + 6 * H)
            assert chain_rounds(rpc, feed) == [(p.round.round_id, p.round.answer, p.round.updated_at) for p in expected]


def test_the_reader_serves_the_published_rounds(two_chains, feed_by_pair, monkeypatch) -> None:
    rpc, _, _ = two_chains
    monkeypatch.setenv(f"AIRFLOW_CONN_{CONN_ID.upper()}", json.dumps({"conn_type": "chainlink", "host": rpc.url}))
    for pair in ("USDC/USD", "DAI/USD"):
        feed = feed_by_pair[pair]
        result = FeedReader(ChainlinkHook(chainlink_conn_id=CONN_ID), feed).read(END, END + timedelta(hours=6))
        served = [(s.round.round_id, s.round.answer, s.round.updated_at, s.served_from) for s in result.rounds]
        assert served == [(rid, a, u, u) for rid, a, u in chain_rounds(rpc, feed)], pair
        assert all(rid >> 64 == 2 for rid, *_ in served)
        assert result.carry_in.round.round_id == (2 << 64) | 2  # the history's last round, then the oracle's


# -- live, on the wall clock ------------------------------------------------------------------------------


def test_the_living_chain_publishes_live_and_a_move_shows_within_a_tick_or_two(feed_by_pair, tmp_path) -> None:
    """The service itself, in this process: 1 s market steps, a 0.5 s tick, 20 s heartbeats, and a DAI
    threshold small enough (0.004 %) for its walk alone to trigger deviation rounds."""
    step, tick = 1, 0.5
    feeds = [
        replace(feed_by_pair["USDC/USD"], heartbeat_seconds=20),
        replace(feed_by_pair["DAI/USD"], heartbeat_seconds=20, deviation_threshold_pct=Decimal("0.004")),
    ]
    origin = int(time.time()) - 60
    walks = {f.pair: Walk(f.pair, 8, 1.0, origin, 0.0, 0.0008, "test-live", step) for f in feeds}
    moves, port = tmp_path / "moves.json", free_port()
    with scratch_chain(port=free_port()) as rpc:
        replayed(rpc, feeds, origin)
        service = Oracle(rpc, feeds, walks, moves)
        stop = threading.Event()
        thread = threading.Thread(
            target=oracle.serve, args=(service,), kwargs={"port": port, "tick": tick, "stop": stop}
        )
        thread.start()
        try:
            _wait(lambda: _status(port)["observed_until"] is not None, 20)  # caught up
            time.sleep(3)
            move = add_move(moves, feeds, "USDC/USD", "0.97", 4 / 60, time.time(), step)
            depeg = _wait(lambda: _usdc_price(port) < Decimal("0.98"), 10)
            recovered = _wait(lambda: _usdc_price(port) > Decimal("0.99"), 15)
            time.sleep(2)
        finally:
            stop.set()
            thread.join(10)
        until = int(service.observed_until)
        on_chain = {f.pair: chain_rounds(rpc, f) for f in feeds}
    assert not thread.is_alive()
    # within a few ticks (a tick or two when idle; slack for a busy machine): not a market step later
    assert depeg - move.start <= 5 * tick + 5 and recovered - move.end <= 5 * tick + 5
    reasons = {}
    for feed in feeds:
        last = plan(feed, origin)[1].rounds[-1]
        expected = rounds_between(feed, LiveMarket(walks[feed.pair], [move]), 2, last, origin, until)
        assert on_chain[feed.pair] == [(p.round.round_id, p.round.answer, p.round.updated_at) for p in expected]
        assert_by_the_rule(feed, last, on_chain[feed.pair], walks[feed.pair], until)
        reasons[feed.pair] = {p.reason for p in expected}
    assert reasons["USDC/USD"] == {DEVIATION, HEARTBEAT} and DEVIATION in reasons["DAI/USD"]


def _status(port: int) -> dict:
    return requests.get(f"http://127.0.0.1:{port}/status", timeout=5).json()


def _usdc_price(port: int) -> Decimal:
    return Decimal(_status(port)["feeds"]["USDC/USD"]["price"])


def _wait(condition, timeout: float) -> float:
    """Poll until `condition()` holds; the wall-clock time it first did."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            if condition():
                return time.time()
        except requests.ConnectionError:
            pass  # not listening yet
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.1)


def test_the_service_runs_in_the_background_and_the_move_command_moves_its_market(feeds, tmp_path) -> None:
    """start_service / the `move` and `status` commands / stop_service, on a scratch node holding a
    history that ended at today's midnight: the service catches up to now, then a move shows."""
    end = datetime.now(UTC).replace(hour=0, minute=0, second=0, microsecond=0)
    moves, port = tmp_path / "moves.json", free_port()
    name = f"oracle-test-{port}"
    with scratch_chain(port=free_port()) as rpc:
        replayed(rpc, stack_history.oracles(feeds), int(end.timestamp()))  # the service publishes ETH/USD too
        began = time.monotonic()
        assert oracle.start_service(rpc.url, port, tick=1, name=name, history_end=end, moves_file=moves)
        try:
            _wait(lambda: _status(port)["observed_until"] is not None, 60)
            caught_up = time.monotonic() - began
            bad = _cli("move", "GBP/USD", "0.97", "--minutes", "1", "--moves-file", str(moves))
            assert bad.returncode == 1 and "unknown pair 'GBP/USD'" in bad.stderr
            good = _cli("move", "USDC/USD", "0.97", "--minutes", "1", "--moves-file", str(moves))
            assert good.returncode == 0 and "USDC/USD moves to 0.97" in good.stdout, good.stderr
            usdc = proxy(rpc, next(f for f in feeds if f.pair == "USDC/USD"))
            shown_at = _wait(lambda: usdc.functions.latestRoundData().call()[1] < 98_000_000, 30)
            (move,) = load_moves(moves)
            assert shown_at - move.start <= 10  # a tick or two (1 s ticks), with slack for a busy machine
            shown = json.loads(_cli("status", "--port", str(port)).stdout)["feeds"]["USDC/USD"]
            assert Decimal(shown["price"]) < Decimal("0.98") and shown["reason"] == DEVIATION
            assert int(shown["round_id"]) == usdc.functions.latestRoundData().call()[0]
        finally:
            assert oracle.stop_service(name)
    assert not oracle.stop_service(name)
    log = LOG_DIR / f"{name}.log"
    assert "USDC/USD round 2:" in log.read_text()
    log.unlink()
    assert caught_up < 120, f"catching up {datetime.now(UTC) - end} took {caught_up:.1f}s"


def _cli(*args: str) -> subprocess.CompletedProcess:
    env = os.environ | {"PYTHONPATH": os.pathsep.join([str(PROJECT_DIR / "plugins"), str(PROJECT_DIR)])}
    return subprocess.run(
        [sys.executable, "-m", "devstack.oracle", *args], capture_output=True, text=True, env=env, timeout=60
    )


def test_the_history_still_matches_after_the_oracle_published(feeds, tmp_path, monkeypatch) -> None:
    """`make stack-up` must not replay (anvil_reset) a node because the oracle added rounds: the check
    looks for the history's last round by its id. stack_history.replay runs with the short plan as the history."""
    end = int(END.timestamp())
    scenario = history.Scenario(END)
    monkeypatch.setattr(history, "phases", lambda feed, sc: plan(feed, end))
    monkeypatch.setattr(stack_history, "HISTORY_FILE", tmp_path / "history.json")
    stack_history.HISTORY_FILE.write_text(
        json.dumps({"end": END.isoformat(), "fingerprints": {"ethereum": stack_history.fingerprint(feeds, scenario)}})
    )
    oracles = stack_history.oracles(feeds)  # what the replay writes: the feeds and the references
    walks = {f.pair: continuing(f, scenario) for f in oracles}
    with scratch_chain(port=free_port()) as rpc:
        stack_history.replay(feeds, scenario, rpc)
        assert head_timestamp(rpc) == end  # the replay ends at the history's end, where the oracle starts
        assert stack_history.history_matches(feeds, scenario, rpc)
        assert Oracle(rpc, oracles, walks, tmp_path / "moves.json").publish_until(end + 3 * H)
        assert stack_history.history_matches(feeds, scenario, rpc)
        # Another history (its rounds a second later) does not match, whatever the oracle added.
        monkeypatch.setattr(history, "phases", lambda feed, sc: plan(feed, end + 1))
        stack_history.HISTORY_FILE.write_text(
            json.dumps({"fingerprints": {"ethereum": stack_history.fingerprint(feeds, scenario)}})
        )
        assert not stack_history.history_matches(feeds, scenario, rpc)
