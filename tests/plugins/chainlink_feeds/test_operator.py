"""ChainlinkFeedOperator and ChainlinkChainOperator against the local node and the emulator: exact
rows, idempotent, all-or-nothing per feed."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

import pytest
import snowflake.connector

from chainlink_feeds.operators import ChainlinkChainOperator, ChainlinkFeedOperator, ChainLoadError
from chainlink_feeds.store import RoundStore
from devstack.services import emulator
from devstack.simulation import history

DAY = timedelta(days=1)


def midnight(moment: datetime) -> datetime:
    return moment.replace(hour=0, minute=0, second=0, microsecond=0)


def run(pair: str, start: datetime, schema: str, run_id: str = "test_run", **kwargs) -> dict:
    operator = ChainlinkFeedOperator(
        task_id="ingest", feed_pair=pair, window_start=start.isoformat(), window_end=(start + DAY).isoformat(),
        raw_schema=schema, **kwargs,
    )  # fmt: skip
    return operator.execute({"run_id": run_id, "data_interval_start": start})


def rows(schema: str, table: str = "CHAINLINK_ROUNDS") -> list[tuple]:
    with snowflake.connector.connect(**emulator.connection_params()) as conn, conn.cursor() as cur:
        cur.execute(f"select * from {schema}.{table} order by 1, 2, 3, 4, 5")
        return cur.fetchall()


def stored_rounds(schema: str) -> list[tuple]:
    with snowflake.connector.connect(**emulator.connection_params()) as conn, conn.cursor() as cur:
        cur.execute(
            f"select round_id, answer, price, started_at, updated_at, served_from, phase_id, aggregator_round_id "
            f"from {schema}.CHAINLINK_ROUNDS order by round_id"
        )
        return cur.fetchall()


def utc(ts: int) -> datetime:
    return datetime.fromtimestamp(ts, UTC).replace(tzinfo=None)


def expected_rows(truth_served, start: datetime) -> list[tuple]:
    window = history.rounds_in_window(truth_served, start, start + DAY)
    carry = history.carry_in(truth_served, start)
    return sorted(
        (
            s.round.round_id, s.round.answer, history.price(s.round, 8), utc(s.round.started_at),
            utc(s.round.updated_at), utc(s.served_from), s.round.phase, s.round.aggregator_round,
        )
        for s in ([carry] if carry else []) + window
    )  # fmt: skip


def not_prices_in(feed, stack, start: datetime) -> list:
    """The simulated rounds of the day that the proxy never served or that timed out."""
    lo, hi = start.timestamp(), (start + DAY).timestamp()
    phases = history.phases(feed, stack)
    rounds = history.never_served(phases) + [r for p in phases for r in p.rounds if r.is_timed_out]
    return [r for r in rounds if lo <= r.updated_at < hi]


def test_phase_change_day_is_stored_exactly(stack, truth, snowflake_schema, feed_by_pair) -> None:
    start = midnight(stack.phase_change_at)
    summary = run("USDC/USD", start, snowflake_schema)
    assert stored_rounds(snowflake_schema) == expected_rows(truth["USDC/USD"], start)
    window = history.rounds_in_window(truth["USDC/USD"], start, start + DAY)
    unserved = not_prices_in(feed_by_pair["USDC/USD"], stack, start)
    assert summary["rounds_loaded"] == len(window) and summary["rounds_rejected"] == len(unserved) > 0
    assert summary["phases"] == [2, 1] and summary["rpc_requests"] > 0
    assert summary["phase_activations"]["2"] == int(stack.phase_change_at.timestamp())
    assert summary["min_price"] == str(min(history.price(s.round, 8) for s in window))
    with snowflake.connector.connect(**emulator.connection_params()) as conn, conn.cursor() as cur:
        cur.execute(f"select round_id, reason from {snowflake_schema}.CHAINLINK_ROUND_REJECTIONS")
        rejected = dict(cur.fetchall())
        cur.execute(
            f"select phase_id, activated_at, activation_source from {snowflake_schema}.CHAINLINK_PHASES order by 1"
        )
        phases = cur.fetchall()
    assert sorted(int(r) for r in rejected) == sorted(r.round_id for r in unserved)
    assert phases[1] == (2, utc(int(stack.phase_change_at.timestamp())), "chain")
    json.dumps(summary)  # XCom-able


def test_same_day_three_times_changes_nothing(stack, truth, snowflake_schema) -> None:
    start = midnight(stack.depeg_start)
    run("USDC/USD", start, snowflake_schema, run_id="first")
    first = (rows(snowflake_schema), rows(snowflake_schema, "CHAINLINK_LOAD_WINDOWS"))
    for again in ("second", "third"):
        run("USDC/USD", start, snowflake_schema, run_id=again)
        assert (rows(snowflake_schema), rows(snowflake_schema, "CHAINLINK_LOAD_WINDOWS")) == first
    assert {row[-1] for row in first[0]} == {"first"}


def test_loading_days_out_of_order_gives_the_same_rows(stack, truth, snowflake_schema) -> None:
    days = [midnight(stack.phase_change_at) + DAY * i for i in (-1, 0, 1)]
    for day in reversed(days):
        run("USDC/USD", day, snowflake_schema)
    out_of_order = [row[:15] for row in rows(snowflake_schema)]  # chain data and gaps, not load metadata
    with snowflake.connector.connect(**emulator.connection_params()) as conn:
        conn.cursor().execute(f"delete from {snowflake_schema}.CHAINLINK_ROUNDS")
    for day in days:
        run("USDC/USD", day, snowflake_schema)
    assert [row[:15] for row in rows(snowflake_schema)] == out_of_order


def test_stale_gap_is_recorded_and_late_heartbeats_are_not(stack, truth, snowflake_schema, feed_by_pair) -> None:
    start = midnight(stack.stale_window[1])
    summary = run("USDT/USD", start, snowflake_schema)
    assert summary["stale_gaps"] == 1
    with snowflake.connector.connect(**emulator.connection_params()) as conn, conn.cursor() as cur:
        cur.execute(
            f"select seconds_since_previous from {snowflake_schema}.CHAINLINK_ROUNDS where is_heartbeat_exceeded"
        )
        ((gap,),) = cur.fetchall()
    assert gap > feed_by_pair["USDT/USD"].heartbeat_limit_seconds
    late = [
        b for a, b in zip(truth["USDT/USD"], truth["USDT/USD"][1:], strict=False)
        if feed_by_pair["USDT/USD"].heartbeat_seconds < b.served_from - a.round.updated_at <= 86400 + 900
    ]  # fmt: skip
    assert late, "the simulation has heartbeats that land a little late"
    day = midnight(datetime.fromtimestamp(late[0].served_from, UTC))
    assert run("USDT/USD", day, snowflake_schema)["stale_gaps"] == 0


def test_a_failed_load_leaves_no_partial_rows(stack, snowflake_schema, monkeypatch) -> None:
    real_merge = RoundStore._merge

    def failing_merge(self, cur, spec, *args, **kwargs):
        if spec.name == "CHAINLINK_LOAD_WINDOWS":
            raise RuntimeError("injected failure after the rounds were merged")
        return real_merge(self, cur, spec, *args, **kwargs)

    monkeypatch.setattr(RoundStore, "_merge", failing_merge)
    with pytest.raises(RuntimeError, match="injected"):
        run("DAI/USD", stack.start + DAY * 30, snowflake_schema)
    assert rows(snowflake_schema) == []
    assert rows(snowflake_schema, "CHAINLINK_LOAD_WINDOWS") == []


def test_resume_from_last_loaded(stack, truth, snowflake_schema) -> None:
    day = stack.end - DAY * 2
    run("DAI/USD", day, snowflake_schema)
    operator = ChainlinkFeedOperator(
        task_id="realtime",
        feed_pair="DAI/USD",
        window_start=None,
        window_end=stack.end.isoformat(),
        raw_schema=snowflake_schema,
    )
    summary = operator.execute({"run_id": "rt", "data_interval_start": day})
    first_day = history.rounds_in_window(truth["DAI/USD"], day, day + DAY)
    assert datetime.fromisoformat(summary["window_start"]).timestamp() == first_day[-1].served_from
    both_days = history.rounds_in_window(truth["DAI/USD"], day, stack.end)
    assert len(stored_rounds(snowflake_schema)) == len(both_days) + 1  # plus the first day's carry-in


def test_unknown_feed_is_a_clear_error(stack, snowflake_schema) -> None:
    from chainlink_feeds.registry import FeedRegistryError

    with pytest.raises(FeedRegistryError, match="no feed or reference 'GBPT/USD' on chain 'ethereum'"):
        run("GBPT/USD", stack.start, snowflake_schema)


def test_a_reference_loads_its_served_rounds_and_no_feed_row(stack, snowflake_schema) -> None:
    """ETH/USD (a `references:` entry pricing the WETH pools) is read like a feed from the stack's
    history; it gets no CHAINLINK_FEEDS row, so no mart or alert takes it for a stablecoin."""
    from chainlink_feeds.registry import load_market

    eth = load_market().price_feed("ethereum", "ETH/USD")
    day = midnight(stack.end - 3 * DAY)
    served = history.served(history.phases(eth, stack))
    summary = run("ETH/USD", day, snowflake_schema)
    assert summary["rounds_loaded"] == len(history.rounds_in_window(served, day, day + DAY)) > 20  # 1 h heartbeat
    assert stored_rounds(snowflake_schema) == expected_rows(served, day)
    assert rows(snowflake_schema, "CHAINLINK_FEEDS") == []


def test_an_older_rounds_table_gains_served_from_and_still_resumes(stack, snowflake_schema, feed_by_pair) -> None:
    """A table an older release created has no served_from: it is added and filled from updated_at,
    so a near-real-time load resumes from the old rows instead of skipping back to a day ago."""
    from warehouse.tables import CHAINLINK_ROUNDS

    feed = feed_by_pair["DAI/USD"]
    with snowflake.connector.connect(**emulator.connection_params()) as conn, conn.cursor() as cur:
        cur.execute(CHAINLINK_ROUNDS.without("served_from").create_sql(snowflake_schema))
        cur.execute(
            f"insert into {snowflake_schema}.{CHAINLINK_ROUNDS.name} (chain, chain_id, proxy_address, feed_pair, round_id, "
            f"phase_id, aggregator_round_id, answer, decimals, price, started_at, updated_at, answered_in_round, "
            f"block_number, loaded_at) values ('ethereum', 1, '{feed.proxy}', 'DAI/USD', 18446744073709551617, 1, 1, "
            f"100000000, 8, 1.0, '2026-01-01 00:00:00', '2026-01-01 00:00:05', 18446744073709551617, 1, "
            f"'2026-01-01 00:01:00')"
        )
        store = RoundStore(conn, snowflake_schema)
        store.ensure_tables()
        store.ensure_tables()  # twice: the second finds the column and changes nothing
        cur.execute(f"select served_from from {snowflake_schema}.{CHAINLINK_ROUNDS.name}")
        assert cur.fetchall() == [(datetime(2026, 1, 1, 0, 0, 5),)]
        assert store.last_loaded(feed) == datetime(2026, 1, 1, 0, 0, 5, tzinfo=UTC)


def feed_rounds(schema: str, pair: str) -> list[tuple]:
    with snowflake.connector.connect(**emulator.connection_params()) as conn, conn.cursor() as cur:
        cur.execute(
            f"select round_id, answer, price, started_at, updated_at, served_from, phase_id, aggregator_round_id "
            f"from {schema}.CHAINLINK_ROUNDS where feed_pair = '{pair}' order by round_id"
        )
        return cur.fetchall()


def run_chain(start: datetime, schema: str, **kwargs) -> dict:
    operator = ChainlinkChainOperator(
        task_id="ingest_ethereum", chain=kwargs.pop("chain", "ethereum"), window_start=start.isoformat(),
        window_end=(start + DAY).isoformat(), raw_schema=schema, **kwargs,
    )  # fmt: skip
    return operator.execute({"run_id": "chain_run", "data_interval_start": start})


def test_one_task_per_chain_stores_each_feed_exactly(stack, truth, snowflake_schema, feeds) -> None:
    """The phase-change day of every feed and of the references (ETH/USD, which prices the WETH pools,
    and EUR/USD, EURC's peg) in one task: each feed's rows are what its proxy served, as a task of its
    own stores them."""
    from chainlink_feeds.registry import load_market

    references = load_market().references_in_use()
    served = truth | {r.pair: history.served(history.phases(r, stack)) for r in references}
    start = midnight(stack.phase_change_at)
    summary = run_chain(start, snowflake_schema)
    assert list(summary["feeds"]) == [*(f.pair for f in feeds), "ETH/USD", "EUR/USD"]
    for pair, rounds in served.items():
        assert feed_rounds(snowflake_schema, pair) == expected_rows(rounds, start), pair
        window = history.rounds_in_window(rounds, start, start + DAY)
        assert summary["feeds"][pair]["rounds_loaded"] == len(window), pair
    assert summary["rounds_loaded"] == sum(s["rounds_loaded"] for s in summary["feeds"].values())
    # RPC requests are counted per feed, and the chain's total is theirs and the switch search's, made
    # for every feed together before them
    per_feed = sum(s["rpc_requests"] for s in summary["feeds"].values())
    assert summary["rpc_requests"] == per_feed + summary["phase_search"]["rpc_requests"] and per_feed > len(served)
    assert summary["feeds"]["USDC/USD"]["phases"] == [2, 1]
    assert run_chain(start, snowflake_schema)["rounds_loaded"] == summary["rounds_loaded"]  # again: the same rows
    assert feed_rounds(snowflake_schema, "USDC/USD") == expected_rows(served["USDC/USD"], start)


def test_a_feed_that_fails_is_named_and_the_chains_others_are_stored(
    stack, truth, snowflake_schema, monkeypatch
) -> None:
    """One feed's read fails: every other feed of the chain is stored, nothing of the failed one,
    and the task fails naming it and what was stored."""
    from chainlink_feeds.reader import FeedReader

    real_read = FeedReader.read

    def failing_read(self, start, end):
        if self.feed.pair == "DAI/USD":
            raise ConnectionError("injected: the node went away")
        return real_read(self, start, end)

    monkeypatch.setattr(FeedReader, "read", failing_read)
    start = midnight(stack.end - 3 * DAY)
    oracles = sorted([*truth, "ETH/USD", "EUR/USD"])
    with pytest.raises(
        ChainLoadError,
        match=rf"ethereum: 1 of {len(oracles)} feeds not loaded \(DAI/USD: ConnectionError: injected",
    ) as failed:
        run_chain(start, snowflake_schema)
    assert "stored: " + ", ".join(p for p in oracles if p != "DAI/USD") in str(failed.value)
    assert feed_rounds(snowflake_schema, "DAI/USD") == []
    assert feed_rounds(snowflake_schema, "USDT/USD") == expected_rows(truth["USDT/USD"], start)


def test_a_chains_feeds_are_stored_in_statements_that_do_not_grow_with_them(stack, truth, snowflake_schema) -> None:
    """Every feed the task read goes into one transaction, one MERGE (and one delete) per table: 16
    feeds' windows take the statements of one (stored one by one they took about 6 each)."""
    start = midnight(stack.phase_change_at)
    summary = run_chain(start, snowflake_schema)
    assert len(summary["feeds"]) >= 16
    # begin, MERGE rounds and rejections, a delete of each side's moved rounds, MERGE phases, feeds
    # and load windows, commit
    assert summary["warehouse_statements"] <= 9
    one = run_chain(start, snowflake_schema, feed_pairs=["USDC/USD"])
    assert one["warehouse_statements"] == summary["warehouse_statements"]


def test_a_store_that_fails_stores_no_feed_and_names_every_one(stack, truth, snowflake_schema, monkeypatch) -> None:
    """The warehouse fails in the middle of the chain's transaction: nothing of any feed is stored
    (not even the rounds MERGEd before the failure), and the task names every feed it read."""
    from warehouse.tables import CHAINLINK_LOAD_WINDOWS

    real_merge = RoundStore._merge

    def failing_merge(self, cur, spec, rows):
        if spec is CHAINLINK_LOAD_WINDOWS:
            raise snowflake.connector.errors.OperationalError("injected: the warehouse went away")
        return real_merge(self, cur, spec, rows)

    monkeypatch.setattr(RoundStore, "_merge", failing_merge)
    start = midnight(stack.end - 3 * DAY)
    oracles = len([*truth, "ETH/USD", "EUR/USD"])
    with pytest.raises(
        ChainLoadError, match=rf"ethereum: {oracles} of {oracles} feeds not loaded .*injected"
    ) as failed:
        run_chain(start, snowflake_schema)
    assert str(failed.value).endswith("stored: none")
    assert rows(snowflake_schema) == [] and rows(snowflake_schema, "CHAINLINK_LOAD_WINDOWS") == []


def test_an_unknown_pair_for_the_chain_task_is_a_clear_error(stack, snowflake_schema) -> None:
    from chainlink_feeds.registry import FeedRegistryError

    with pytest.raises(FeedRegistryError, match=r"no feed or reference \['GBPT/USD'\] on chain 'ethereum'"):
        run_chain(stack.start, snowflake_schema, feed_pairs=["USDC/USD", "GBPT/USD"])
    with pytest.raises(FeedRegistryError, match="no feed or reference on chain 'base'"):
        run_chain(stack.start, snowflake_schema, chain="base")
