"""The simulated history follows Chainlink's heartbeat/deviation rule, has mainnet's phase overlaps
and timed-out Flux rounds, and holds the scripted episodes; `served` follows the proxy."""

from __future__ import annotations

import bisect
from datetime import UTC, datetime, timedelta

import pytest

from devstack.simulation import history


def price_rounds(phase: history.SimPhase) -> list[history.SimRound]:
    return [r for r in phase.rounds if not r.is_timed_out]


@pytest.fixture(scope="module")
def all_phases(stack, feeds) -> dict[str, list[history.SimPhase]]:
    return {f.pair: history.phases(f, stack) for f in feeds}


def test_the_scripted_feeds_cover_at_least_180_days_and_the_others_launched_later(truth, stack, feed_by_pair) -> None:
    """Served from its simulated start to the end: the history's start for the scripted feeds; the
    others launched later (32 days before the end, 10 with an hourly heartbeat, EURC a day after
    EUR/USD, its peg), so their proxies serve nothing before."""
    assert history.HISTORY_DAYS >= 180
    days = {}
    for pair, served in truth.items():
        first = history.simulated_from(feed_by_pair[pair], stack)
        assert first <= served[0].served_from < first + 86400, pair
        assert served[-1].served_from >= (stack.end - timedelta(days=2)).timestamp(), pair
        days[pair] = round((stack.end.timestamp() - first) / 86400)
    assert {p for p, d in days.items() if d == history.HISTORY_DAYS} == history.FULL_HISTORY_PAIRS
    assert {p for p, d in days.items() if d == history.LATER_LAUNCH_HOURLY_DAYS} == {"FRAX/USD", "LUSD/USD", "USDP/USD"}
    assert days["EURC/USD"] == history.REFERENCE_DAYS - 1 and days["USDS/USD"] == history.LATER_LAUNCH_DAYS


def test_every_feed_has_a_flux_then_an_ocr_phase_switched_mid_day(all_phases, stack, feed_by_pair) -> None:
    for pair, (flux, ocr) in all_phases.items():
        assert (flux.phase, flux.kind, flux.activated_at) == (1, "flux", int(stack.start.timestamp())), pair
        assert (ocr.phase, ocr.kind) == (2, "ocr"), pair
        switch = datetime.fromtimestamp(ocr.activated_at, UTC)
        assert switch == stack.phase_change(feed_by_pair[pair]) and 6 <= switch.hour <= 18, pair
    assert all_phases[history.PHASE_CHANGE_PAIR][1].activated_at == stack.phase_change_at.timestamp()
    assert len({p[1].activated_at for p in all_phases.values()}) == len(all_phases)


def test_phases_overlap_around_the_switch(all_phases) -> None:
    for pair, (flux, ocr) in all_phases.items():
        switch = ocr.activated_at
        shadow = [r for r in ocr.rounds if r.updated_at < switch]
        tail = [r for r in flux.rounds if r.updated_at >= switch]
        assert shadow and shadow[0].updated_at <= switch - (history.SHADOW_DAYS - 1) * 86400, pair
        assert tail and tail[-1].updated_at >= switch + 86400, pair
        never = history.never_served([flux, ocr])
        assert {r.phase for r in never} == {1, 2}, pair
        assert set(never) == set(shadow[:-1]) | {r for r in tail if not r.is_timed_out}, pair


def test_flux_rounds_start_before_they_are_answered_and_ocr_rounds_do_not(all_phases) -> None:
    for pair, (flux, ocr) in all_phases.items():
        for r in price_rounds(flux):
            assert 3 <= r.updated_at - r.started_at <= 60, (pair, r)
        assert all(r.started_at == r.updated_at and r.answered_in_round == r.aggregator_round for r in ocr.rounds)


def test_timed_out_flux_rounds_repeat_the_previous_answer(all_phases) -> None:
    for pair, (flux, ocr) in all_phases.items():
        timed_out = [r for r in flux.rounds if r.is_timed_out]
        assert len(timed_out) == len(history.FLUX_TIMEOUTS), pair
        assert any(flux.activated_at <= r.updated_at < ocr.activated_at for r in timed_out), pair
        assert any(r.updated_at >= ocr.activated_at for r in timed_out), pair
        for r in timed_out:
            answered = flux.rounds[r.answered_in_round - 1]
            following = flux.rounds[r.aggregator_round]
            assert not answered.is_timed_out and r.answer == answered.answer, (pair, r)
            assert r.updated_at == following.started_at == r.started_at + history.FLUX_TIMEOUT_SECONDS, (pair, r)
            assert not following.is_timed_out and following.updated_at > following.started_at
            assert r.proxy_answered_in_round == (1 << 64) | answered.aggregator_round


def test_each_round_is_triggered_by_deviation_or_a_late_heartbeat(all_phases, feed_by_pair) -> None:
    """Heartbeat-only updates land 1 to 300 s after the heartbeat expired, as on mainnet."""
    late_heartbeats, outages = 0, 0
    for pair, feed_phases in all_phases.items():
        feed = feed_by_pair[pair]
        threshold = float(feed.deviation_threshold_pct) / 100
        for phase in feed_phases:
            rounds = price_rounds(phase)
            for before, after in zip(rounds, rounds[1:], strict=False):
                requested = phase.rounds[after.aggregator_round - 2].is_timed_out  # answers a timed-out request
                if requested or abs(after.answer - before.answer) / before.answer >= threshold:
                    continue
                late = after.updated_at - before.updated_at - feed.heartbeat_seconds
                if pair == history.STALE_PAIR and late > history.HEARTBEAT_LATE[1]:
                    outages += 1
                    continue
                assert history.HEARTBEAT_LATE[0] <= late <= history.HEARTBEAT_LATE[1], (pair, before, after)
                late_heartbeats += 1
    assert late_heartbeats > 100 and outages <= 1


def test_the_market_never_moves_past_the_threshold_without_an_update(all_phases, feed_by_pair, stack) -> None:
    slack = history.TICK_SECONDS + history.HEARTBEAT_LATE[1]
    for pair, feed_phases in all_phases.items():
        feed = feed_by_pair[pair]
        threshold = float(feed.deviation_threshold_pct) / 100
        for phase in feed_phases:
            rounds = price_rounds(phase)
            times = [r.updated_at for r in rounds]
            for tick, answer in history.observations(feed, stack, phase.kind):
                i = bisect.bisect_left(times, tick)  # rounds[i - 1] is the last one before the tick
                if i == 0 or abs(answer - rounds[i - 1].answer) / rounds[i - 1].answer < threshold:
                    continue
                assert i < len(rounds) and rounds[i].updated_at <= tick + slack, (pair, phase.phase, tick)


def test_the_two_aggregators_disagree_slightly(all_phases, feed_by_pair, stack) -> None:
    for pair in all_phases:
        flux = dict(history.observations(feed_by_pair[pair], stack, "flux"))
        ocr = dict(history.observations(feed_by_pair[pair], stack, "ocr"))
        both = sorted(flux.keys() & ocr.keys())
        assert both and any(flux[t] != ocr[t] for t in both), pair
        assert all(abs(flux[t] - ocr[t]) < 0.001 * 1e8 for t in both), pair


def test_exactly_one_stale_gap_on_the_stale_feed(truth, feed_by_pair) -> None:
    for pair, served in truth.items():
        limit = feed_by_pair[pair].heartbeat_seconds + history.HEARTBEAT_LATE[1]
        gaps = [b.served_from - a.served_from for a, b in zip(served, served[1:], strict=False)]
        assert len([g for g in gaps if g > limit]) == (1 if pair == history.STALE_PAIR else 0), pair


def test_depeg_is_shaped_like_march_2023(truth, stack) -> None:
    rounds = [s.round for s in truth[history.DEPEG_PAIR]]
    low = min(rounds, key=lambda r: r.answer)
    assert 0.87 <= low.answer / 1e8 <= 0.89
    start = stack.depeg_start.timestamp()
    assert start < low.updated_at < start + 36 * 3600
    off_peg = [r for r in rounds if r.answer < 0.99e8]
    duration = off_peg[-1].updated_at - off_peg[0].updated_at
    assert 2 * 86400 <= duration <= 4 * 86400
    assert len([r for r in rounds if start <= r.updated_at < start + 86400]) > 20


def test_the_switch_day_serves_both_phases(truth, stack) -> None:
    switch = stack.phase_change_at
    day = switch.replace(hour=0, minute=0)
    same_day = history.rounds_in_window(truth[history.PHASE_CHANGE_PAIR], day, day + timedelta(days=1))
    assert {s.round.phase for s in same_day} == {1, 2}
    first_new = next(s for s in same_day if s.round.phase == 2)
    assert (
        first_new.served_from == switch.timestamp() > first_new.round.updated_at
    )  # the shadow round shown at the switch


def _phase(number: int, kind: str, activated_at: int, rounds: list[tuple[int, int, int]]) -> history.SimPhase:
    """A phase from (answer, updated_at, answered_in_round) triples."""
    return history.SimPhase(
        number,
        kind,
        activated_at,
        tuple(
            history.SimRound("X/USD", number, i, answer, updated - 5, updated, answered)
            for i, (answer, updated, answered) in enumerate(rounds, start=1)
        ),
    )


def test_served_follows_the_proxy_around_a_switch() -> None:
    flux = _phase(1, "flux", 100, [(1, 90, 1), (2, 150, 2), (2, 200, 2), (3, 260, 4), (4, 400, 5)])
    ocr = _phase(2, "ocr", 300, [(10, 220, 1), (11, 280, 2), (12, 300, 3), (13, 350, 4)])
    served = history.served([flux, ocr])
    assert [(s.round.round_id, s.served_from) for s in served] == [
        ((1 << 64) | 1, 100),  # the last round before phase 1's activation, shown from it
        ((1 << 64) | 2, 150),  # round 3 timed out: not a price round
        ((1 << 64) | 4, 260),
        ((2 << 64) | 3, 300),  # updated exactly at the switch
        ((2 << 64) | 4, 350),
    ]
    assert [r.round_id for r in history.never_served([flux, ocr])] == [
        (1 << 64) | 5,
        (2 << 64) | 1,
        (2 << 64) | 2,
    ]
    assert history.carry_in(served, datetime.fromtimestamp(300, UTC)).served_from == 260
    window = history.rounds_in_window(served, datetime.fromtimestamp(150, UTC), datetime.fromtimestamp(300, UTC))
    assert [s.served_from for s in window] == [150, 260]


def test_a_phase_checks_its_rounds() -> None:
    with pytest.raises(ValueError, match="1..n"):
        history.SimPhase(1, "flux", 0, (history.SimRound("X/USD", 1, 2, 1, 1, 1, 2),))
    with pytest.raises(ValueError, match="kind"):
        _phase(1, "median", 0, [])


def test_history_is_deterministic(feeds) -> None:
    scenario = history.Scenario(datetime(2026, 1, 1, tzinfo=UTC))
    assert history.phases(feeds[0], scenario) == history.phases(feeds[0], scenario)


def test_history_end_must_be_a_utc_midnight() -> None:
    with pytest.raises(ValueError, match="UTC midnight"):
        history.Scenario(datetime(2026, 1, 1, 5, tzinfo=UTC))


def test_references_serve_before_the_pools_first_hour_with_both_phases(stack) -> None:
    """A reference is simulated only where it prices the pools: a round is served before their first
    hour, and its switch, like a feed's, lies inside what is simulated."""
    from chainlink_feeds.registry import load_market
    from devstack.simulation import pools

    first_pool_hour = (stack.end - timedelta(days=pools.POOL_DAYS)).timestamp()
    for reference in load_market().references_in_use():
        phases = history.phases(reference, stack)
        served = history.served(phases)
        assert served[0].served_from < first_pool_hour, reference.pair
        assert [len(price_rounds(p)) > 10 for p in phases] == [True, True], reference.pair
        assert stack.phase_change(reference) > stack.end - timedelta(days=history.REFERENCE_DAYS), reference.pair


def test_the_demos_short_history_holds_every_feed_the_switches_and_the_depeg(all_feeds) -> None:
    """The demo's SHORTEST_DAYS history: every feed on every chain serves a Flux then an OCR phase, its
    switch (and the shadow rounds before it) inside; USDC's switch and the depeg are where the whole
    history has them, USDT's and DAI's switches are drawn inside; a later-launched feed's rounds are
    the whole history's."""
    end = datetime(2026, 12, 7, tzinfo=UTC)
    short, whole = history.Scenario(end, history.SHORTEST_DAYS), history.Scenario(end)
    assert short.start == end - timedelta(days=history.SHORTEST_DAYS)
    for feed in all_feeds:
        phases = history.phases(feed, short)
        served = history.served(phases)
        assert [p.kind for p in phases] == ["flux", "ocr"], feed
        assert {s.round.phase for s in served} == {1, 2}, feed
        switch = short.phase_change(feed)
        assert short.start + timedelta(days=history.SHADOW_DAYS) < switch < end - timedelta(days=1), feed
        if feed.chain == "ethereum" and feed.pair in history.FULL_HISTORY_PAIRS:
            assert served[0].served_from < (short.start + timedelta(days=1)).timestamp(), feed
        elif feed.pair not in history.FULL_HISTORY_PAIRS:  # (an L2's scripted pair walks the whole market)
            assert phases[1].rounds == history.phases(feed, whole)[1].rounds, feed
    ethereum = {f.pair: f for f in all_feeds if f.chain == "ethereum"}
    usdc, usdt, dai = ethereum["USDC/USD"], ethereum["USDT/USD"], ethereum["DAI/USD"]
    assert short.phase_change(usdc) == whole.phase_change(usdc) and short.depeg_start == whole.depeg_start
    assert short.phase_change(usdt) != whole.phase_change(usdt) and short.phase_change(dai) != whole.phase_change(dai)
    depeg = history.rounds_in_window(
        history.served(history.phases(usdc, short)), short.depeg_start, short.depeg_start + timedelta(days=2)
    )
    assert min(s.round.answer for s in depeg) < 0.9 * 10**usdc.decimals


def test_a_history_shorter_than_its_later_launches_is_refused() -> None:
    with pytest.raises(
        ValueError, match=f"history days must be {history.SHORTEST_DAYS}..{history.HISTORY_DAYS}, got 20"
    ):
        history.Scenario(datetime(2026, 1, 1, tzinfo=UTC), 20)
