"""Read an L2 sequencer's status history from Chainlink's L2 Sequencer Uptime Feed.

The uptime feed is a proxy like a price feed's, but a round is a status change, not a price:
answer 1 means the sequencer went down, 0 that it came back up, and `startedAt` is when (the
time the L1 message carrying the change was sent; the feed keeps no other time). A feed has few
rounds (a handful of outages over years), so a read takes them all, every phase, at one pinned
block, in a request or two, rather than searching a window as the price reader does. The changes
that began before a load's window end are kept, so a backfilled day stores what an in-order one did.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING

from chainlink_feeds.abi import PROXY, ZERO_ADDRESS
from chainlink_feeds.errors import FeedMismatchError, NotAFeedError
from chainlink_feeds.rounds import Round, proxy_round_id

if TYPE_CHECKING:
    from chainlink_feeds.hooks import ChainlinkHook
    from chainlink_feeds.registry import Chain

SEQUENCER_PHASES_IN_SNAPSHOT = 8
STATUS_ANSWERS = {0: False, 1: True}  # answer -> the sequencer is down


class SequencerAnswerError(FeedMismatchError):
    """The uptime feed answered something other than 0 (up) or 1 (down): not an uptime feed."""


@dataclass(frozen=True)
class SequencerRound:
    """One status change: the proxy round, whether the sequencer went down, and when (Unix seconds)."""

    round_id: int
    is_down: bool
    changed_at: int


@dataclass(frozen=True)
class SequencerRead:
    """Every status change that began before `until`, oldest first, read at `block`."""

    block: int
    rounds: list[SequencerRound]
    until: datetime


def read_sequencer(hook: ChainlinkHook, chain: Chain, until: datetime) -> SequencerRead:
    """The chain's status changes that began before `until`, from every phase of its uptime proxy."""
    proxy = chain.sequencer_uptime_feed
    calls = [(proxy, PROXY["phaseId"].encode())]
    calls += [(proxy, PROXY["phaseAggregators"].encode(p)) for p in range(1, SEQUENCER_PHASES_IN_SNAPSHOT + 1)]
    block, answers, _ = hook.snapshot(calls, chain.chain_id)
    if not answers[0]:
        raise NotAFeedError(f"{chain.where}: sequencer_uptime_feed {proxy} on {chain.name} is not a Chainlink proxy")
    (phase,) = PROXY["phaseId"].decode(answers[0])
    aggregators = [PROXY["phaseAggregators"].decode(a)[0] if a else ZERO_ADDRESS for a in answers[1:]]
    if phase > SEQUENCER_PHASES_IN_SNAPSHOT:
        more = [
            (proxy, PROXY["phaseAggregators"].encode(p)) for p in range(SEQUENCER_PHASES_IN_SNAPSHOT + 1, phase + 1)
        ]
        aggregators += [
            PROXY["phaseAggregators"].decode(a)[0] if a else ZERO_ADDRESS for a in hook.call_many(more, block)
        ]
    rounds = [
        r
        for p, aggregator in enumerate(aggregators[:phase], start=1)
        if aggregator != ZERO_ADDRESS
        for r in _phase_rounds(hook, chain, p, block)
    ]
    cutoff = until.timestamp()
    kept = sorted((r for r in rounds if r.changed_at < cutoff), key=lambda r: (r.changed_at, r.round_id))
    return SequencerRead(block, kept, until)


def _phase_rounds(hook: ChainlinkHook, chain: Chain, phase: int, block: int) -> list[SequencerRound]:
    """Rounds 1, 2, ... of one phase, a request's worth at a time, until one does not exist."""
    page = hook.settings.max_calls_per_request
    rounds: list[SequencerRound] = []
    while True:
        ids = [proxy_round_id(phase, n) for n in range(len(rounds) + 1, len(rounds) + 1 + page)]
        answers = hook.call_many([(chain.sequencer_uptime_feed, PROXY["getRoundData"].encode(i)) for i in ids], block)
        for round_id, data in zip(ids, answers, strict=True):
            r = Round(round_id, *PROXY["getRoundData"].decode(data)[1:]) if data else None
            if r is None or not r.exists:
                return rounds
            rounds.append(_status(chain, r))


def _status(chain: Chain, r: Round) -> SequencerRound:
    """The round as a status change; an answer that is no status is refused, naming the registry line."""
    if r.answer not in STATUS_ANSWERS:
        raise SequencerAnswerError(
            f"{chain.where}: chains: {chain.name}: sequencer_uptime_feed {chain.sequencer_uptime_feed} answered "
            f"{r.answer} in round {r.round_id}; an uptime feed answers 0 (up) or 1 (down)"
        )
    return SequencerRound(r.round_id, STATUS_ANSWERS[r.answer], r.started_at)
