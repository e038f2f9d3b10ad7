"""Real recorded mainnet rounds (../shared/data/chainlink-recorded/), as replay plans and as the
served expectation, computed here from the CSV rows alone.

The recording holds every round of the USDC/USD and USDT/USD proxies but not when each proxy
switched from phase 1 (FluxAggregator) to phase 2 (OCR); the tests choose that time. The
expectation is an event simulation of the proxy, second by second, independent of the reader's
search: every price round and every phase switch is an event, and each time the round the proxy
serves changes, that round is served from that moment.
"""

from __future__ import annotations

import csv
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from devstack import history

RECORDED_DIR = Path(__file__).resolve().parents[3] / "shared" / "data" / "chainlink-recorded"
FILES = {"USDC/USD": "usdc_usd_rounds.csv", "USDT/USD": "usdt_usd_rounds.csv"}
MASK = (1 << 64) - 1
KINDS = {1: "flux", 2: "ocr"}
# The proxies existed before their first recorded round (2021-02-16 19:43 UTC is the earliest startedAt).
DEPLOYED_AT = int(datetime(2021, 2, 15, tzinfo=UTC).timestamp())
PHASE_1_ACTIVATED_AT = int(datetime(2021, 2, 16, tzinfo=UTC).timestamp())


@dataclass(frozen=True)
class Expected:
    """The served series and the rounds the proxy never served, for one feed and one switch time."""

    served: list[tuple[history.SimRound, int]]  # (round, served_from) in served order
    never_served: list[history.SimRound]
    timed_out: list[history.SimRound]


def rounds(pair: str) -> list[history.SimRound]:
    """Every recorded round of the pair, as (phase, aggregator round) ordered SimRounds."""
    path = RECORDED_DIR / FILES[pair]
    if not path.exists():
        raise FileNotFoundError(
            f"{path} is missing: the recorded mainnet rounds live in ../shared/data/chainlink-recorded"
        )
    with path.open() as f:
        out = [
            history.SimRound(
                pair=pair,
                phase=int(row["phaseId"]),
                aggregator_round=int(row["aggregatorRoundId"]),
                answer=int(row["answer"]),
                started_at=int(row["startedAt"]),
                updated_at=int(row["updatedAt"]),
                answered_in_round=int(row["answeredInRound"]) & MASK,
            )
            for row in csv.DictReader(f)
        ]
    return sorted(out, key=lambda r: (r.phase, r.aggregator_round))


def plan(pair: str, switch_at: int) -> list[history.SimPhase]:
    """Replay plan: phase 1 on a FluxAggregator, phase 2 on an OCR-style aggregator switched to at `switch_at`."""
    all_rounds = rounds(pair)
    activations = {1: PHASE_1_ACTIVATED_AT, 2: switch_at}
    return [
        history.SimPhase(phase, KINDS[phase], activations[phase], tuple(r for r in all_rounds if r.phase == phase))
        for phase in (1, 2)
    ]


def expected(pair: str, switch_at: int) -> Expected:
    """Simulate the proxy over time: which round it serves, from when."""
    all_rounds = rounds(pair)
    activations = {1: PHASE_1_ACTIVATED_AT, 2: switch_at}
    timed_out = [r for r in all_rounds if r.answered_in_round < r.aggregator_round]
    prices = [r for r in all_rounds if r.answered_in_round >= r.aggregator_round]
    # (time, order, kind, payload): in one second, a phase's own rounds come before its activation
    # and every other phase's rounds after it.
    events: list[tuple[int, int, int, str, object]] = []
    for r in prices:
        first = activations.get(r.phase) == r.updated_at
        events.append((r.updated_at, 0 if first else 2, r.aggregator_round, "round", r))
    for phase, at in activations.items():
        events.append((at, 1, 0, "switch", phase))
    events.sort(key=lambda e: e[:3] + (e[4].phase if e[3] == "round" else e[4],))
    latest: dict[int, history.SimRound] = {}
    serving, shown = 0, None
    served: list[tuple[history.SimRound, int]] = []
    for at, _, _, kind, payload in events:
        if kind == "switch":
            serving = payload
        else:
            latest[payload.phase] = payload
        now = latest.get(serving)
        if now is not None and now is not shown:
            served.append((now, at))
            shown = now
    served_ids = {id(r) for r, _ in served}
    return Expected(served, [r for r in prices if id(r) not in served_ids], timed_out)


def window(exp: Expected, start: datetime, end: datetime) -> tuple[list[tuple[history.SimRound, int]], tuple | None]:
    """(served rounds with start <= served_from < end, the carry-in) of a window."""
    lo, hi = int(start.timestamp()), int(end.timestamp())
    inside = [(r, f) for r, f in exp.served if lo <= f < hi]
    before = [(r, f) for r, f in exp.served if f < lo]
    return inside, before[-1] if before else None
