"""Who saw each depeg event, on the session's 21 simulated days with their pools: every event's
witnesses equal what the market mart's own readings say (the expectation computed here from
STABLECOIN_MARKET_VS_ORACLE row by row, not from the events model). The market witnesses only with
a run that has a witness reading (every pool beyond the threshold on its side, its price through no
off-peg reference): such a run confirms an oracle event it overlaps on its side, or is an event of
its own; any other run does neither. The simulated depeg is the case that needs the reading: DAI
follows USDC down, so some of USDC's readings are priced through DAI/USD off its peg, others
through USDT/USD and ETH/USD with every pool beyond the threshold."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

import pandas as pd

from tests.support.pipeline import query


@dataclass
class Run:
    """A run of the market's priced readings beyond the warning threshold on one side of the peg."""

    side: int
    crossed_at: datetime
    last_off_at: datetime
    ended_at: datetime | None = None
    witness_readings: int = 0
    through_off_peg_reference: int = 0

    @property
    def witnesses(self) -> bool:
        return self.witness_readings > 0


def market_runs(readings: pd.DataFrame, warning_bps: float) -> list[Run]:
    """One feed's runs, oldest first: a run ends at the next priced reading not beyond the threshold
    on its side (then open without one); a reading without a market price is skipped."""
    runs: list[Run] = []
    run: Run | None = None
    for r in readings.itertuples():
        deviation = float(r.market_deviation_bps)
        side = (deviation > 0) - (deviation < 0) if abs(deviation) >= warning_bps else 0
        if run is not None and side != run.side:
            run.ended_at, run = r.priced_at, None
        if side and run is None:
            run = Run(side, r.priced_at, r.priced_at)
            runs.append(run)
        if run is not None:
            run.last_off_at = r.priced_at
            lowest, highest = float(r.lowest_pool_deviation_bps), float(r.highest_pool_deviation_bps)
            every_pool_off = highest <= -warning_bps if side < 0 else lowest >= warning_bps
            run.witness_readings += every_pool_off and not r.is_reference_off_peg
            run.through_off_peg_reference += bool(r.is_reference_off_peg)
    return runs


def overlaps(run: Run, start: datetime, end: datetime | None) -> bool:
    return (run.ended_at is None or run.ended_at > start) and (end is None or run.crossed_at < end)


def test_each_event_names_the_witnesses_the_market_readings_give(marts) -> None:
    events = query(
        f"select feed_pair, started_at, ended_at, is_open, worst_deviation_bps, warning_bps, seen_by, "
        f"is_confirmed, market_crossed_at from {marts}.STABLECOIN_DEPEG_EVENTS order by feed_pair, started_at"
    )
    market = query(
        f"select feed_pair, priced_at, market_deviation_bps, is_reference_off_peg, lowest_pool_deviation_bps, "
        f"highest_pool_deviation_bps from {marts}.STABLECOIN_MARKET_VS_ORACLE "
        f"where market_price_usd is not null order by feed_pair, priced_at"
    )
    warning = query(f"select distinct feed_pair, warning_bps from {marts}.STABLECOIN_PEG_HEALTH")
    with_pools = set(query(f"select distinct feed_pair from {marts}.STABLECOIN_MARKET_VS_ORACLE").feed_pair)
    mixed = []  # confirming runs with readings through an off-peg reference too
    for pair, warning_bps in zip(warning.feed_pair, warning.warning_bps.astype(float), strict=True):
        runs = market_runs(market[market.feed_pair == pair], warning_bps)
        mine = events[events.feed_pair == pair]
        oracle = mine[mine.seen_by != "market"]
        for e in oracle.itertuples():
            end = None if e.is_open else e.ended_at
            side = 1 if float(e.worst_deviation_bps) > 0 else -1
            beside = [
                r
                for r in runs
                if r.side == side and e.started_at <= r.last_off_at and (end is None or end > r.crossed_at)
            ]
            confirming = [r for r in beside if r.witnesses]
            mixed += [(pair, r) for r in confirming if r.through_off_peg_reference]
            want = "both" if confirming else "oracle" if pair in with_pools else "oracle (no pools)"
            assert (e.seen_by, bool(e.is_confirmed)) == (want, want == "both"), (pair, e)
            if confirming:
                assert e.market_crossed_at == min(r.crossed_at for r in confirming), (pair, e)
        alone = [
            r
            for r in runs
            if r.witnesses
            and not any(overlaps(r, e.started_at, None if e.is_open else e.ended_at) for e in oracle.itertuples())
        ]
        got = [(e.started_at, None if e.is_open else e.ended_at) for e in mine[mine.seen_by == "market"].itertuples()]
        assert got == [(r.crossed_at, r.ended_at) for r in alone], (pair, got, alone)
    # USDC's depeg is confirmed by a run in which DAI/USD, off its peg, priced some readings (DAI's by
    # one through USDC/USD, confirmed once USDC was back on its peg and DAI not yet)
    assert "USDC/USD" in {pair for pair, _ in mixed}, mixed
    # the depeg itself (USDC's worst event) is confirmed; a later event the oracle alone saw on the way
    # back (some days' walks have one, as 2026-12-08's) is checked against the readings above
    usdc = events[events.feed_pair == "USDC/USD"]
    assert usdc.loc[usdc.worst_deviation_bps.astype(float).idxmin()].seen_by == "both", usdc
