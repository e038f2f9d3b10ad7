"""The served expectation of recorded mainnet rounds (devstack.simulation.recorded), computed from the CSV rows
alone, independent of the reader's search.

It is an event simulation of the proxy, second by second: every price round and every phase switch
is an event, and each time the round the proxy serves changes, that round is served from that moment.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from devstack.simulation import history
from devstack.simulation.recorded import PHASE_1_ACTIVATED_AT, rounds


@dataclass(frozen=True)
class Expected:
    """The served series and the rounds the proxy never served, for one feed and one switch time."""

    served: list[tuple[history.SimRound, int]]  # (round, served_from) in served order
    never_served: list[history.SimRound]
    timed_out: list[history.SimRound]


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
