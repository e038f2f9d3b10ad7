"""Depeg Events: the events mart, worst first; a token without events shows an empty state."""

from __future__ import annotations

from datetime import timedelta

import pytest

from tests.support.pipeline import query

DAY = timedelta(days=1)


def test_events_worst_first_and_filtered_by_token(app, marts, stack) -> None:
    events = query(
        f"select symbol, feed_pair, started_at, worst_status, worst_deviation_bps, worst_abs_deviation_bps, "
        f"is_open, seen_by from {marts}.STABLECOIN_DEPEG_EVENTS order by worst_abs_deviation_bps desc"
    )
    # USDC's depeg; USDT's oracle stays on peg (its market may stray off, seen by the market alone)
    assert "USDC/USD" in set(events.feed_pair)
    assert not events[(events.feed_pair == "USDT/USD") & (events.seen_by != "market")].size
    at = app().run()
    at.switch_page("app_pages/depeg_events.py").run()
    assert not at.exception
    assert at.title[0].value == "Depeg Events"
    metrics = {m.label: m.value for m in at.metric}
    assert metrics == {
        "Events in view": str(len(events)),
        "Open now": str(int(events.is_open.sum())),
        "Worst deviation": f"{float(events.worst_abs_deviation_bps.max()):,.1f} bps",
    }
    shown = at.dataframe[0].value
    assert list(shown["symbol"]) == list(events["symbol"])
    assert list(shown["started_at"]) == list(events["started_at"])
    assert list(shown["worst_status"]) == list(events["worst_status"])
    assert shown["worst_deviation_bps"].to_numpy() == pytest.approx(events["worst_deviation_bps"].astype(float))
    assert shown.iloc[0]["symbol"] == "USDC" and shown.iloc[0]["worst_status"] == "critical"
    # the simulated depeg empties USDC's pools as its market falls: the market saw it too, by the
    # second hourly reading after the oracle crossed (the walk is drawn per day: at the first, the
    # market may be just short of the threshold, as on 2026-12-08's: -48.8 bps against 50)
    assert list(shown["seen_by"]) == list(events["seen_by"]) and shown.iloc[0]["seen_by"] == "both"
    assert shown.iloc[0]["market_crossed_at"] <= shown.iloc[0]["started_at"] + timedelta(hours=2)
    assert len(at.get("vega_lite_chart")) == 2  # the timeline and the daily status

    at.selectbox[0].set_value("USDC/USD").run()
    assert set(at.dataframe[0].value["symbol"]) == {"USDC"}
    assert at.metric[0].value == str(int((events.feed_pair == "USDC/USD").sum()))

    quiet = next(p for p in at.selectbox[0].options[1:] if p not in set(events.feed_pair))  # a feed without one
    at.selectbox[0].set_value(quiet).run()
    assert not at.exception
    assert at.metric[0].value == "0" and at.metric[2].value == "—"
    assert [i.value for i in at.info][0].startswith(f"No depeg events for {quiet}")
    assert len(at.dataframe) == 0 and len(at.get("vega_lite_chart")) == 1  # daily status only


def test_a_range_before_the_depeg_has_no_events(app, marts, stack) -> None:
    first = stack.end.date() - 21 * DAY
    before = query(
        f"select count(*) as n from {marts}.STABLECOIN_DEPEG_EVENTS where started_at < '{first + 2 * DAY}'"
    ).n[0]
    assert before == 0
    at = app(start=str(first), end=str(first + DAY)).run()
    at.switch_page("app_pages/depeg_events.py").run()
    assert not at.exception
    assert at.metric[0].value == "0"
    assert at.info[0].value.startswith("No depeg events for all feeds in")
