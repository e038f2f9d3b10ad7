"""Rounds as read from a proxy, and the checks a round must pass before it is stored as a price."""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal

PHASE_OFFSET = 64
MAX_STORED_ANSWER = 10**37  # NUMBER(37,0): exact on Snowflake and on the emulator


def split_round_id(round_id: int) -> tuple[int, int]:
    """(phase id, aggregator round id) of a proxy round id (`phase << 64 | aggregator round`)."""
    return round_id >> PHASE_OFFSET, round_id & ((1 << PHASE_OFFSET) - 1)


def proxy_round_id(phase_id: int, aggregator_round_id: int) -> int:
    return (phase_id << PHASE_OFFSET) | aggregator_round_id


@dataclass(frozen=True)
class Round:
    """One proxy round, raw integers as the contract returned them."""

    round_id: int
    answer: int
    started_at: int
    updated_at: int
    answered_in_round: int

    @property
    def phase_id(self) -> int:
        return split_round_id(self.round_id)[0]

    @property
    def aggregator_round_id(self) -> int:
        return split_round_id(self.round_id)[1]

    @property
    def exists(self) -> bool:
        """A round a proxy answers with zeros does not exist."""
        return bool(self.answer or self.started_at or self.updated_at)

    def price(self, decimals: int) -> Decimal:
        """The answer as an exact decimal price."""
        return Decimal(self.answer).scaleb(-decimals)


@dataclass(frozen=True)
class AcceptedRound:
    """A round that passed validation, with the gap to the round before it."""

    round: Round
    seconds_since_previous: int | None
    is_heartbeat_exceeded: bool


@dataclass(frozen=True)
class Rejection:
    """A round that failed validation and why; it is never stored as a price."""

    round: Round
    reason: str


def _problem(r: Round, previous_in_phase: Round | None) -> str | None:
    if r.updated_at <= 0:
        return "updatedAt is zero"
    if r.answer <= 0:
        return f"answer is not positive ({r.answer})"
    if r.answer >= MAX_STORED_ANSWER:
        return f"answer {r.answer} has more than 37 digits"
    if r.started_at <= 0:
        return "startedAt is zero"
    if r.started_at > r.updated_at:
        return f"startedAt {r.started_at} is after updatedAt {r.updated_at}"
    if previous_in_phase is not None and r.updated_at < previous_in_phase.updated_at:
        return f"updatedAt {r.updated_at} decreases within phase {r.phase_id} (previous round: {previous_in_phase.updated_at})"
    return None


def validate(
    rounds: list[Round], carry_in: Round | None, heartbeat_seconds: int
) -> tuple[list[AcceptedRound], list[Rejection]]:
    """Split rounds (carry-in first, then the window's rounds in round-id order) into accepted and rejected.

    Gaps are measured to the previous accepted round in time, across phases; a gap longer than the
    heartbeat means the feed was stale, which is recorded on the later round.
    """
    accepted: list[AcceptedRound] = []
    rejected: list[Rejection] = []
    last_in_phase: dict[int, Round] = {}
    previous: Round | None = None
    ordered = ([carry_in] if carry_in else []) + sorted(rounds, key=lambda r: r.round_id)
    checked = []
    for r in ordered:
        problem = _problem(r, last_in_phase.get(r.phase_id))
        if problem:
            rejected.append(Rejection(r, problem))
            continue
        last_in_phase[r.phase_id] = r
        checked.append(r)
    for r in sorted(checked, key=lambda r: (r.updated_at, r.round_id)):
        gap = r.updated_at - previous.updated_at if previous else None
        accepted.append(AcceptedRound(r, gap, gap is not None and gap > heartbeat_seconds))
        previous = r
    return accepted, rejected
