"""Feed Health: the staleness mart per feed."""

from __future__ import annotations

from tests.support.pipeline import query


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
