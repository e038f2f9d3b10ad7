"""Feed Health: the staleness mart per feed, and on an L2 its sequencer's status."""

from __future__ import annotations

import pandas as pd

from tests.support.pipeline import query
from tests.support.sequencer_marts import T0, H


def test_staleness_per_feed(app, marts) -> None:
    staleness = query(
        f"select symbol, feed_pair, is_stale, rounds_loaded, heartbeat_misses, seconds_since_last_update "
        f"from {marts}.CHAINLINK_FEED_STALENESS order by symbol"
    )
    at = app().run()
    at.switch_page("app_pages/feed_health.py").run()
    assert not at.exception
    assert at.title[0].value == "Feed Health"
    metrics = [(m.label, m.value) for m in at.metric]
    assert metrics[:3] == [
        ("Feeds", str(len(staleness))),
        ("Stale feeds", str(int(staleness.is_stale.sum()))),
        ("Heartbeat misses", str(int(staleness.heartbeat_misses.astype(float).sum()))),
    ]
    assert [label for label, _ in metrics[3:]] == list(staleness.symbol)
    shown = at.dataframe[0].value
    assert list(shown["feed_pair"]) == list(staleness.feed_pair)
    assert list(shown["is_stale"]) == list(staleness.is_stale)
    assert list(shown["rounds_loaded"]) == [int(v) for v in staleness.rounds_loaded]
    assert list(shown["heartbeat_misses"]) == [int(float(v)) for v in staleness.heartbeat_misses]
    badges = [m.value for m in at.markdown if "-badge[" in m.value]
    assert [b.split(" ")[-1].rstrip("]") for b in badges] == ["stale" if s else "fresh" for s in staleness.is_stale]

    at.selectbox[0].set_value("USDT/USD").run()
    assert not at.exception
    assert at.metric[0].value == "1"
    assert list(at.dataframe[0].value["feed_pair"]) == ["USDT/USD"]


def test_an_l2_feed_shows_its_sequencer_status_and_its_untrusted_price(app, l2_marts) -> None:
    at = app(marts_schema=l2_marts).run()
    assert not at.exception
    # the same pair on two chains is two cards, titled with their chain
    cards = {m.label: m.value for m in at.metric}
    assert {"USDC (arbitrum)", "USDC (ethereum)"} <= set(cards) and cards["USDC (arbitrum)"] == "$0.9999"
    badges = [m.value for m in at.markdown if "-badge[" in m.value]
    assert sum("untrusted: arbitrum sequencer down" in b for b in badges) == 1  # on the Arbitrum card only

    at.switch_page("app_pages/feed_health.py").run()
    assert not at.exception
    metrics = {m.label: m.value for m in at.metric}
    assert metrics["Untrusted (sequencer)"] == "1 of 1"
    badges = [m.value for m in at.markdown if "-badge[" in m.value]
    assert sum("arbitrum sequencer down" in b for b in badges) == 1
    shown = at.dataframe[0].value
    by_chain = dict(zip(shown["chain"], shown["sequencer_status"], strict=True))
    assert by_chain["arbitrum"] == "down" and pd.isna(by_chain["ethereum"])
    assert any(f"sequencer down since {T0 + 19 * H:%Y-%m-%d %H:%M} UTC" in c.value for c in at.caption)


def test_without_an_l2_the_staleness_table_has_no_sequencer_columns(app) -> None:
    at = app().run()
    at.switch_page("app_pages/feed_health.py").run()
    assert not at.exception and "Untrusted (sequencer)" not in [m.label for m in at.metric]
    assert "sequencer_status" in at.dataframe[0].value.columns  # the data has it; the table does not show it
