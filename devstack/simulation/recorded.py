"""Real recorded mainnet rounds (../shared/data/chainlink-recorded/: every round of the USDC/USD and
USDT/USD proxies, 2021-02 to 2022-11), as replay plans for a local node.

The data is read where it lies, never copied into the repository. The recording does not say when
each proxy switched from phase 1 (FluxAggregator) to phase 2 (OCR): the caller chooses.
"""

from __future__ import annotations

import csv
from datetime import UTC, datetime

from chainlink_feeds.rounds import ROUND_MASK
from devstack.settings import PROJECT_DIR
from devstack.simulation import history

RECORDED_DIR = PROJECT_DIR.parent / "shared" / "data" / "chainlink-recorded"
FILES = {"USDC/USD": "usdc_usd_rounds.csv", "USDT/USD": "usdt_usd_rounds.csv"}
KINDS = {1: "flux", 2: "ocr"}
# The proxies existed before their first recorded round (2021-02-16 19:43 UTC is the earliest startedAt).
DEPLOYED_AT = int(datetime(2021, 2, 15, tzinfo=UTC).timestamp())
PHASE_1_ACTIVATED_AT = int(datetime(2021, 2, 16, tzinfo=UTC).timestamp())


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
                answered_in_round=int(row["answeredInRound"]) & ROUND_MASK,
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
