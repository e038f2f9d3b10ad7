"""Near-real-time end to end, on a living chain: the local oracle publishes a depeg round, the
triggerer's PoolMoveTrigger starts the near-real-time DAG, the round reaches the dashboard's
freshness route and the health view, and the on-call's inbox (a real HTTP receiver apprise posts
to) gets exactly one alert; recovery gives one "resolved" alert, and a rerun gives none. Then a
market move with the oracle frozen: the pool's move alone starts a run that loads its swap, and the
on-call gets exactly one silent-oracle page within 5 minutes of the market crossing; the inbox is
then down when oracle and market agree again, and the "resolved" page, with the failed run's notice,
reaches it within 2 minutes of its return, with no new round. Runs the trigger started ping the
dead-man's switch (the inbox's); with the triggerer stopped, a move reaches nobody and the switch
pages once.

The pipeline's registry is include/feeds.yaml with `silent_oracle_minutes: 1` (3 by default): the
same rule, a shorter wait.

Runs on a scratch node with a short history (the oracle's moves must not reach the shared stack's
chain) and a production-shaped Airflow of its own (devstack.cluster.celery) pointed at it.
"""

from __future__ import annotations

import json
import re
import threading
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
import requests
import yaml

from devstack.chain import stack_history
from devstack.cluster import rest
from devstack.cluster.airflow_env import pipeline_settings
from devstack.cluster.airflow_init import init_airflow
from devstack.cluster.celery import Cluster, ClusterPorts
from devstack.oracle import service as oracle
from devstack.services import alert_receiver, dashboard, postgres, processes
from devstack.settings import PROJECT_DIR
from devstack.simulation import history
from tests.support.pipeline import create_schema, dbt_build, drop_pipeline, query
from tests.support.scratch_chain import free_port, scratch_chain
from tests.support.short_history import replayed, with_pools

REALTIME_DAG = "stablecoin_peg_realtime"
DEADMAN_CHECK = "peg-e2e"
PORTS = ClusterPorts.block(8300)
DASHBOARD_PORT = 8602
POLL_SECONDS = 2
WAIT = 300  # generous: behaviour, not timing (bench/realtime_latency.py measures the latency)


@dataclass
class Live:
    """The module's living chain, Airflow, dashboard and inbox."""

    rpc_url: str
    oracle_port: int
    moves: Path
    cluster: Cluster
    raw: str
    inbox: Path
    dashboard_url: str
    receiver_port: int
    receiver: alert_receiver.ReceiverServer

    def stop_receiver(self) -> None:
        self.receiver.shutdown()
        self.receiver.server_close()

    def start_receiver(self) -> None:
        """Serve the same inbox on the same port again."""
        self.receiver = alert_receiver.make_server(self.receiver_port, self.inbox)
        threading.Thread(target=self.receiver.serve_forever, daemon=True).start()

    @property
    def api(self) -> str:
        return f"{self.cluster.api_url}/api/v2"

    def alerts(self, pair: str) -> list[dict]:
        """What the inbox received about `pair`, oldest first."""
        return [a for a in alert_receiver.read_inbox(self.inbox) if pair in a["body"].get("title", "")]


def _short_silence_registry(work: Path) -> Path:
    """include/feeds.yaml with silent_oracle_minutes 1 in its defaults, and its Ethereum feeds only:
    the module's chain is its own scratch node, which is Ethereum's (the shared stack's Arbitrum node
    must not page this cluster's inbox)."""
    text = (PROJECT_DIR / "include" / "feeds.yaml").read_text()
    shorter = re.sub(r"(?m)^(  silent_oracle_minutes:) *\d+", r"\1 1", text)
    assert shorter != text
    document = yaml.safe_load(shorter)
    document["feeds"] = [f for f in document["feeds"] if f["chain"] == "ethereum"]
    document.pop("chains", None)
    (work / "feeds.yaml").write_text(yaml.safe_dump(document, sort_keys=False))
    return work / "feeds.yaml"


def _wait(condition, what: str, timeout: float = WAIT):
    deadline = time.monotonic() + timeout
    while not (found := condition()):
        assert time.monotonic() < deadline, f"timed out after {timeout:.0f}s waiting for {what}"
        time.sleep(1)
    return found


def _run(api: str) -> dict:
    """Trigger the near-real-time DAG by hand and wait for the run to finish."""
    answer = requests.post(f"{api}/dags/{REALTIME_DAG}/dagRuns", json={"logical_date": None}, timeout=30)
    answer.raise_for_status()
    run_id = answer.json()["dag_run_id"]
    url = f"{api}/dags/{REALTIME_DAG}/dagRuns/{run_id}"
    return _wait(lambda: (r := requests.get(url, timeout=30).json())["state"] in ("success", "failed") and r, run_id)


def _watchers_running(database: str) -> bool:
    """The DAG's PoolMoveTrigger is assigned to the triggerer (so it has a baseline to compare with)."""
    with postgres.connect(database) as conn, conn.cursor() as cur:
        cur.execute(
            "select count(*) from trigger where classpath = 'market_pools.triggers.PoolMoveTrigger' "
            "and triggerer_id is not null"
        )
        return cur.fetchone()[0] > 0


def _usdc_price(live: Live) -> float | None:
    last = requests.get(f"http://127.0.0.1:{live.oracle_port}/status", timeout=10).json()["feeds"]["USDC/USD"]
    return float(last["price"]) if last["price"] else None


def _served_up_to(live: Live, pair: str) -> datetime | None:
    answer = requests.get(f"{live.dashboard_url}/api/freshness", timeout=30)
    if answer.status_code != 200:
        return None
    last = next(f["last_updated_at"] for f in answer.json()["feeds"] if f["feed_pair"] == pair)
    return datetime.fromisoformat(last) if last else None


@pytest.fixture(scope="module")
def live(metadata_services, feeds, tmp_path_factory) -> Iterator[Live]:
    work = tmp_path_factory.mktemp("realtime")
    midnight = datetime.now(UTC).replace(hour=0, minute=0, second=0, microsecond=0)
    raw, database = f"RT_{uuid.uuid4().hex[:8].upper()}", f"e2e_rt_{uuid.uuid4().hex[:8]}"
    receiver = alert_receiver.make_server(free_port(), work / "inbox.jsonl")
    receiver_port = receiver.server_address[1]
    threading.Thread(target=receiver.serve_forever, daemon=True).start()
    oracle_port, oracle_name = free_port(), f"oracle-e2e-{uuid.uuid4().hex[:6]}"
    with scratch_chain(port=free_port()) as rpc:
        with_pools(rpc)  # the oracle trades them; the DAG watches and loads them
        replayed(rpc, stack_history.oracles(feeds), int(midnight.timestamp()))
        assert oracle.start_service(
            rpc.url, oracle_port, tick=1, name=oracle_name, history_end=midnight, moves_file=work / "moves.json"
        )
        settings = pipeline_settings(work / "airflow", raw, DASHBOARD_PORT) | {
            "AIRFLOW_CONN_CHAINLINK_ETHEREUM": json.dumps(
                {"conn_type": "chainlink", "host": rpc.url, "extra": {"timeout": 30, "batch_size": 200}}
            ),
            "AIRFLOW_CONN_APPRISE_DEFAULT": json.dumps(
                {"conn_type": "apprise", "extra": {"config": [{"path": alert_receiver.apprise_url(receiver_port)}]}}
            ),
            "PEG_REALTIME_POLL_SECONDS": str(POLL_SECONDS),
            # No hourly fallback run inside a test: every run here is one the trigger started.
            "PEG_REALTIME_CRON": "0 0 1 1 *",
            "PEG_FEED_REGISTRY": str(_short_silence_registry(work)),
            "AIRFLOW_CONN_PEG_DEADMAN": json.dumps(
                {"conn_type": "http", "host": alert_receiver.ping_url(DEADMAN_CHECK, receiver_port)}
            ),
        }
        cluster = Cluster("e2e-realtime", work / "airflow", database, PORTS, settings)
        create_schema(raw)
        postgres.create_database(database)
        try:
            init_airflow(cluster.env)
            cluster.start()
            built = Live(
                rpc.url,
                oracle_port,
                work / "moves.json",
                cluster,
                raw,
                work / "inbox.jsonl",
                f"http://127.0.0.1:{DASHBOARD_PORT}",
                receiver_port,
                receiver,
            )
            rest.wait_dag_parsed(port=PORTS.api, dag_id=REALTIME_DAG)
            requests.patch(f"{built.api}/dags/{REALTIME_DAG}", json={"is_paused": False}, timeout=30).raise_for_status()
            # The first load (a day back, by hand), then the marts' views over it and the dashboard on them.
            assert _run(built.api)["state"] == "success"
            built_marts = dbt_build(raw, f"{raw}_A", work / "dbt")
            assert built_marts.returncode == 0, built_marts.stdout[-3000:]
            # A run over the history with the market's view in place: what the last day of it holds
            # (the pools empty before their first trade: a thin market) is paged before the tests.
            assert _run(built.api)["state"] == "success"
            dashboard.start_dashboard(
                name="dashboard-e2e-rt", port=DASHBOARD_PORT, marts_schema=f"{raw}_A_MARTS",
                extra={"PEG_DATA_VERSION_TTL": "2"},
            )  # fmt: skip
            _wait(lambda: _watchers_running(database), "the PoolMoveTrigger to run in the triggerer")
            time.sleep(3 * POLL_SECONDS)  # its first poll: the baseline
            yield built
        finally:
            processes.stop("dashboard-e2e-rt")
            cluster.stop()
            oracle.stop_service(oracle_name)
            if "built" in locals():
                built.stop_receiver()
            else:
                receiver.shutdown()
            postgres.drop_database(database)
            drop_pipeline(raw)


@pytest.fixture(scope="module")
def depeg(live: Live) -> dict:
    """USDC to 0.97 for a minute and a half, then back: when each showed on chain and reached the
    dashboard, and what the inbox received."""
    before = len(live.alerts("USDC/USD"))
    oracle.move("USDC/USD", "0.97", 1.5, moves_file=live.moves)
    _wait(lambda: (p := _usdc_price(live)) is not None and p < 0.98, "the oracle to publish the depeg round")
    depeg_round = requests.get(f"http://127.0.0.1:{live.oracle_port}/status", timeout=10).json()["feeds"]["USDC/USD"]
    on_chain = datetime.fromisoformat(depeg_round["updated_at"])
    _wait(lambda: (s := _served_up_to(live, "USDC/USD")) and s >= on_chain, "/api/freshness to serve the round")
    critical = _wait(lambda: len(live.alerts("USDC/USD")) > before and live.alerts("USDC/USD")[before:], "an alert")
    _wait(lambda: (p := _usdc_price(live)) is not None and p > 0.99, "the oracle to publish the recovery")
    resolved = _wait(
        lambda: [a for a in live.alerts("USDC/USD")[before:] if a["body"]["title"].startswith("RESOLVED")],
        "the resolved alert",
    )
    _wait(lambda: _idle(live), "the near-real-time runs to finish")  # anything extra has been sent by now
    return {"round": depeg_round, "on_chain": on_chain, "critical": critical, "resolved": resolved, "before": before}


def _idle(live: Live) -> bool:
    """No near-real-time run queued or running, twice a poll apart (an event may be on its way)."""
    for _ in range(2):
        runs = requests.get(f"{live.api}/dags/{REALTIME_DAG}/dagRuns?state=queued&state=running", timeout=30)
        if runs.json()["total_entries"]:
            return False
        time.sleep(2 * POLL_SECONDS)
    return True


def test_the_depeg_round_reaches_the_dashboard_through_an_asset_triggered_run(live, depeg, feeds) -> None:
    served = query(
        f"select price_usd, peg_status from {live.raw}_A_MARTS.STABLECOIN_PEG_HEALTH "
        f"where chain = 'ethereum' and feed_pair = 'USDC/USD' and round_id = {depeg['round']['round_id']}"
    )
    assert list(served.peg_status) == ["critical"]
    assert float(served.price_usd.iloc[0]) == pytest.approx(float(depeg["round"]["price"]))
    # the run that loaded it was started by the trigger's event for this very round
    runs = requests.get(f"{live.api}/dags/{REALTIME_DAG}/dagRuns?limit=100", timeout=30).json()["dag_runs"]
    usdc = next(f.proxy for f in feeds if f.pair == "USDC/USD")
    fired_for = set()
    for run in (r for r in runs if r["run_type"] == "asset_triggered" and r["state"] == "success"):
        url = f"{live.api}/dags/{REALTIME_DAG}/dagRuns/{run['dag_run_id']}/upstreamAssetEvents"
        for event in requests.get(url, timeout=30).json()["asset_events"]:
            payload = (event["extra"] or {}).get("payload") or {}  # what the trigger yielded
            fired_for |= {r[0] for p, r in payload.get("new_rounds", {}).items() if p == usdc}
    assert depeg["round"]["round_id"] in fired_for


def test_exactly_one_alert_off_peg_and_one_resolved(live, depeg) -> None:
    received = live.alerts("USDC/USD")[depeg["before"] :]
    titles = [a["body"]["title"] for a in received]
    assert len(titles) == 2, titles
    assert titles[0].startswith("CRITICAL USDC/USD off peg") and titles[1].startswith("RESOLVED USDC/USD")
    body = received[0]["body"]["message"]
    assert body.startswith(f"{history.LABEL}\n\n")  # the stack's data is SIMULATED, and its pages say so
    assert f"Round: {depeg['round']['round_id']}" in body
    assert f"Since: {depeg['on_chain']:%Y-%m-%d %H:%M:%S} UTC" in body
    assert "bps" in body and f"Dashboard: {live.dashboard_url}/?feed=USDC%2FUSD+%28ethereum%29" in body


def test_a_rerun_pages_nobody(live, depeg) -> None:
    count = len(live.alerts("USDC/USD"))
    assert _run(live.api)["state"] == "success"
    time.sleep(2)
    assert len(live.alerts("USDC/USD")) == count


USDC_USDT = "0x3416cF6C708Da44DB2624D63ea0AAef7113527C6"


def _event_payloads(live: Live, state: str | None = "success") -> list[dict]:
    """What the trigger yielded for each asset-triggered run in `state` (None: any), oldest first."""
    runs = requests.get(f"{live.api}/dags/{REALTIME_DAG}/dagRuns?limit=100", timeout=30).json()["dag_runs"]
    payloads = []
    for run in (r for r in runs if r["run_type"] == "asset_triggered" and state in (None, r["state"])):
        url = f"{live.api}/dags/{REALTIME_DAG}/dagRuns/{run['dag_run_id']}/upstreamAssetEvents"
        payloads += [
            (e["extra"] or {}).get("payload") or {} for e in requests.get(url, timeout=30).json()["asset_events"]
        ]
    return payloads


@pytest.fixture(scope="module")
def frozen_move(live: Live, depeg) -> dict:
    """USDC's market to 0.98 for two and a half minutes while its oracle publishes nothing (longer
    than silent_oracle_minutes, 1 here, plus a run), then back; the oracle's price before it. The
    pools stay deep enough to price it (a deeper move empties them: a thin market, no price). The
    inbox goes down once the silent-oracle page is in, and comes back 45 s after the move ends, once the
    trigger has woken the DAG for the refused page (a move's recheck may deliver it before the next wake)."""
    price_before = _usdc_price(live)
    before = len(live.alerts("USDC/USD"))
    move = oracle.move("USDC/USD", "0.98", 2.5, moves_file=live.moves, oracle_frozen=True)
    silent = _wait(
        lambda: [a for a in live.alerts("USDC/USD")[before:] if a["body"]["title"].startswith("SILENT")],
        "the silent-oracle page",
    )
    live.stop_receiver()
    _wait(lambda: time.time() > move.end + 45, "the market back, its page refused", timeout=600)
    woken = _wait(lambda: [p["wake"] for p in _event_payloads(live, state=None) if "wake" in p], "a wake")
    live.start_receiver()
    back = datetime.now(UTC)
    resolved = _wait(
        lambda: [a for a in live.alerts("USDC/USD")[before:] if a["body"]["title"].startswith("RESOLVED")],
        "the resolved page",
    )
    _wait(lambda: _idle(live), "the near-real-time runs to finish")
    return {
        "move": move, "price_before": price_before, "before": before, "silent": silent[0], "resolved": resolved,
        "back": back, "woken": woken,
    }  # fmt: skip


def test_a_market_move_with_the_oracle_frozen_starts_a_run_that_loads_the_swap(live, frozen_move) -> None:
    """The pool's swap reaches the raw table through a run its move started, and the oracle served
    no round while the move lasted."""
    move = frozen_move["move"]
    since, until = (f"{datetime.fromtimestamp(t, UTC):%Y-%m-%d %H:%M:%S}" for t in (move.start, move.end))
    swaps = query(
        f"select tick from {live.raw}.MARKET_POOL_SWAPS where pool_address = '{USDC_USDT}' "
        f"and swapped_at >= '{since}' and swapped_at < '{until}'"
    )
    assert len(swaps) and int(swaps.tick.min()) < -150  # 0.98 USDC per USDT is about tick -202
    moved = [p["pool_moves"] for p in _event_payloads(live) if USDC_USDT in p.get("pool_moves", {})]
    assert moved and moved[0][USDC_USDT][1] < -150, moved  # the move itself started a run
    rounds = query(
        f"select count(*) as n from {live.raw}.CHAINLINK_ROUNDS where chain = 'ethereum' and feed_pair = 'USDC/USD' "
        f"and served_from >= '{since}' and served_from < '{until}'"
    )
    assert int(rounds.n.iloc[0]) == 0  # the oracle said nothing


def test_a_frozen_oracle_is_paged_silent_once_within_five_minutes(live, frozen_move) -> None:
    """The recheck a little over silent_oracle_minutes after the move starts the run that sees the
    market still 200 bps away with no round since: one SILENT ORACLE page, naming both prices, the
    divergence and the market's depth, with a link to the Market vs Oracle page."""
    move, page = frozen_move["move"], frozen_move["silent"]
    silent = re.fullmatch(r"SILENT ORACLE USDC/USD: market \$([\d.]+), oracle still \$([\d.]+)", page["body"]["title"])
    assert silent, page["body"]["title"]
    assert abs(float(silent[1]) - 0.98) < 0.005 and abs(float(silent[2]) - 1) < 0.005, page["body"]["title"]
    crossed = datetime.fromtimestamp(move.start, UTC)
    assert crossed < datetime.fromisoformat(page["received_at"]) <= crossed + timedelta(minutes=5)
    body = page["body"]["message"]
    divergence = float(re.search(r"Divergence: ([+-][\d.]+) bps", body)[1])
    assert 150 < divergence < 260 and "Market depth: $" in body  # oracle 1.00 over market 0.98: about +204 bps
    assert f"Dashboard: {live.dashboard_url}/market_vs_oracle?feed=USDC%2FUSD+%28ethereum%29" in body
    assert [p for p in _event_payloads(live) if "recheck" in p], "the pool's move was rechecked"


def test_a_page_refused_while_the_inbox_was_down_arrives_once_within_two_minutes_of_its_return(
    live, frozen_move
) -> None:
    """The market came back while the inbox was down: the RESOLVED page and the failed run's own
    notice wait (in PEG_ALERT_TRANSITIONS and the outbox), the trigger wakes the DAG every minute, and
    both arrive within 2 minutes of the inbox's return, with no new round; the page exactly once."""
    pages = [a["body"]["title"] for a in live.alerts("USDC/USD")[frozen_move["before"] :]]
    assert len(pages) == 2 and pages[0].startswith("SILENT ORACLE"), pages  # the oracle frozen: no peg page
    assert pages[1] == "RESOLVED USDC/USD oracle and market agree again (was silent)"
    resolved = datetime.fromisoformat(frozen_move["resolved"][0]["received_at"])
    assert frozen_move["back"] < resolved <= frozen_move["back"] + timedelta(minutes=2)
    notices = [
        a for a in alert_receiver.read_inbox(live.inbox) if a["body"]["title"] == f"[peg monitor] {REALTIME_DAG} failed"
    ]
    runs = requests.get(f"{live.api}/dags/{REALTIME_DAG}/dagRuns?state=failed&limit=100", timeout=30).json()
    assert bool(notices) == bool(runs["total_entries"]), (notices, runs["total_entries"])  # a failed run: its notice
    assert all(frozen_move["back"] < datetime.fromisoformat(n["received_at"]) for n in notices)
    assert all(datetime.fromisoformat(n["received_at"]) <= frozen_move["back"] + timedelta(minutes=2) for n in notices)
    assert "peg_alerts_unsent" in frozen_move["woken"][0], frozen_move["woken"]  # woken while the page waited


def test_the_ordinary_move_is_a_confirmed_depeg_and_the_frozen_one_the_markets_alone(
    live, depeg, frozen_move, tmp_path
) -> None:
    """The depeg events mart built over the live data after both moves: the move to 0.97 is one event,
    the oracle's, seen by the market too (a confirmed depeg); the market's move to 0.98 with the
    oracle frozen is one event the market alone saw, from its first reading of the move to its first
    reading back, with no round off peg and no oracle crossing."""
    result = dbt_build(live.raw, f"{live.raw}_A", tmp_path, select="stablecoin_depeg_events")
    assert result.returncode == 0, result.stdout[-3000:]
    since = depeg["on_chain"] - timedelta(minutes=10)
    events = query(
        f"select started_at, ended_at, is_open, seen_by, is_confirmed, rounds_off_peg, worst_price_usd, "
        f"oracle_crossed_at is null as no_oracle from {live.raw}_A_MARTS.STABLECOIN_DEPEG_EVENTS "
        f"where chain = 'ethereum' and feed_pair = 'USDC/USD' and started_at >= '{since:%Y-%m-%d %H:%M:%S}' order by started_at"
    )
    assert list(events.seen_by) == ["both", "market"], events
    confirmed, market = events.iloc[0], events.iloc[1]
    assert confirmed.started_at == depeg["on_chain"].replace(tzinfo=None) and confirmed.is_confirmed
    assert int(confirmed.rounds_off_peg) >= 1 and abs(float(confirmed.worst_price_usd) - 0.97) < 0.005
    move = frozen_move["move"]
    start, end = (datetime.fromtimestamp(t, UTC).replace(tzinfo=None) for t in (move.start, move.end))
    assert start <= market.started_at <= end and not market.is_open, (move, events)
    assert end <= market.ended_at <= end + timedelta(minutes=5), (move, events)
    assert int(market.rounds_off_peg) == 0 and market.no_oracle and not market.is_confirmed
    assert abs(float(market.worst_price_usd) - 0.98) < 0.005


def test_runs_the_trigger_started_pinged_the_dead_mans_switch(live) -> None:
    checks = requests.get(f"http://127.0.0.1:{live.receiver_port}/checks", timeout=10).json()
    assert checks[DEADMAN_CHECK]["down"] is False


def test_with_the_triggerer_stopped_a_move_reaches_nobody_but_the_dead_mans_switch_pages_once(live) -> None:
    """Last, as it stops the triggerer: a USDT move to 0.97 (its oracle following) then starts no run,
    so no run pings; the switch (its period shortened to the test's scale, 12 minutes on the stack)
    pages once, naming the check, and not again while it stays silent. A run the trigger started
    just before it stopped still pings: the silence is counted from when that run is done."""
    _wait(lambda: _idle(live), "the near-real-time runs to finish")
    processes.stop(live.cluster.process_name("triggerer"))
    _wait(lambda: _idle(live), "a run started by an event fired before the stop to finish")
    stopped = datetime.now(UTC)
    live.receiver.switch.after = 30
    oracle.move("USDT/USD", "0.97", 0.5, moves_file=live.moves)
    title = f"DEAD MAN'S SWITCH {DEADMAN_CHECK}: no ping for 0.5 min"

    def switch_pages() -> list[dict]:
        return [a for a in alert_receiver.read_inbox(live.inbox) if a["body"]["title"] == title]

    page = _wait(switch_pages, "the dead-man's switch's page", timeout=120)[0]
    time.sleep(45)  # past the move and another period: still one page
    assert switch_pages() == [page]
    runs = requests.get(f"{live.api}/dags/{REALTIME_DAG}/dagRuns?limit=100", timeout=30).json()["dag_runs"]
    started = [
        r for r in runs if r["run_type"] == "asset_triggered" and datetime.fromisoformat(r["run_after"]) > stopped
    ]
    assert not started, started  # the move reached nobody else
    assert not [a for a in live.alerts("USDT/USD") if datetime.fromisoformat(a["received_at"]) > stopped]
    checks = requests.get(f"http://127.0.0.1:{live.receiver_port}/checks", timeout=10).json()
    assert checks[DEADMAN_CHECK]["down"] is True
