"""Rounds as read from a proxy, and the checks a round must pass before it is stored as a price.

A round is a price only if the proxy served it (see chainlink_feeds.reader) and it is a fresh
answer: a FluxAggregator round that timed out repeats an older round's answer
(`answeredInRound` < round id) and is rejected with that reason. Gaps are measured on the served
series: the age the previous served price reached when this round replaced it.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal

PHASE_OFFSET = 64  # a proxy round id is `phase << PHASE_OFFSET | aggregator round`
ROUND_MASK = (1 << PHASE_OFFSET) - 1  # the aggregator round in a proxy round id
MAX_STORED_ANSWER = 10**37  # NUMBER(37,0): exact on Snowflake and on the emulator


def split_round_id(round_id: int) -> tuple[int, int]:
    """(phase id, aggregator round id) of a proxy round id (`phase << 64 | aggregator round`)."""
    return round_id >> PHASE_OFFSET, round_id & ROUND_MASK


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

    @property
    def is_timed_out(self) -> bool:
        """A round that answers an earlier round's answer (a FluxAggregator round that timed out)."""
        return self.exists and self.answered_in_round < self.round_id

    def price(self, decimals: int) -> Decimal:
        """The answer as an exact decimal price."""
        return Decimal(self.answer).scaleb(-decimals)


@dataclass(frozen=True)
class ServedRound:
    """A round the proxy served, and from when (its updatedAt, or its phase's activation if later)."""

    round: Round
    served_from: int


@dataclass(frozen=True)
class AcceptedRound:
    """A round that passed validation, with the gap to the round before it."""

    round: Round
    served_from: int
    seconds_since_previous: int | None
    is_heartbeat_exceeded: bool


@dataclass(frozen=True)
class Rejection:
    """A round that failed validation and why; it is never stored as a price."""

    round: Round
    reason: str


def problem(r: Round, previous_in_phase: Round | None = None) -> str | None:
    """Why a round is not a price, or None; `previous_in_phase` adds the in-phase time-order check."""
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
    if r.is_timed_out:
        return (
            f"timed out: answeredInRound {r.answered_in_round} is below round id {r.round_id} "
            "(the round repeats an earlier round's answer)"
        )
    if previous_in_phase is not None and r.updated_at < previous_in_phase.updated_at:
        return f"updatedAt {r.updated_at} decreases within phase {r.phase_id} (previous round: {previous_in_phase.updated_at})"
    return None


def validate(
    served: list[ServedRound], carry_in: ServedRound | None, heartbeat_limit_seconds: int
) -> tuple[list[AcceptedRound], list[Rejection]]:
    """Split served rounds (the carry-in, then the window's) into accepted and rejected.

    Each accepted round records the gap since the previous accepted one: how old the previous
    served price was when this round replaced it (served_from - previous updatedAt). A gap above
    the heartbeat plus its grace is a heartbeat miss, recorded on the later round.
    """
    accepted: list[AcceptedRound] = []
    rejected: list[Rejection] = []
    last_in_phase: dict[int, Round] = {}
    checked: list[ServedRound] = []
    for s in ([carry_in] if carry_in else []) + sorted(served, key=lambda s: s.round.round_id):
        reason = problem(s.round, last_in_phase.get(s.round.phase_id))
        if reason:
            rejected.append(Rejection(s.round, reason))
            continue
        last_in_phase[s.round.phase_id] = s.round
        checked.append(s)
    previous: Round | None = None
    for s in sorted(checked, key=lambda s: (s.served_from, s.round.round_id)):
        gap = s.served_from - previous.updated_at if previous else None
        accepted.append(AcceptedRound(s.round, s.served_from, gap, gap is not None and gap > heartbeat_limit_seconds))
        previous = s.round
    return accepted, rejected
