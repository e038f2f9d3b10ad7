"""The refresh check's verdict on a freshness answer names what is missing."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from peg_monitor.freshness import dashboard_url, evaluate

END = datetime(2026, 11, 24, tzinfo=UTC)
URL = "http://dash:8501"


def answer(**data_as_of: str) -> dict:
    return {
        "app_version": "1.0",
        "data_version": "v7",
        "feeds": [{"feed_pair": pair.replace("_", "/"), "data_as_of": value} for pair, value in data_as_of.items()],
    }


def test_fresh_when_every_feed_reaches_the_window_end() -> None:
    fresh, message = evaluate(
        URL, answer(USDC_USD="2026-11-24T00:00:00Z", DAI_USD="2026-11-24T06:00:00"), END, ["USDC/USD", "DAI/USD"]
    )
    assert fresh and "v7" in message


def test_old_and_missing_feeds_are_named() -> None:
    fresh, message = evaluate(URL, answer(USDC_USD="2026-11-23T00:00:00Z"), END, ["USDC/USD", "DAI/USD"])
    assert not fresh
    assert "no data for DAI/USD" in message and "only USDC/USD up to 2026-11-23T00:00:00+00:00" in message
    assert "window ends 2026-11-24T00:00:00+00:00" in message


def test_a_pair_on_two_chains_is_two_feeds() -> None:
    """USDC/USD on Ethereum and on Arbitrum, in either order: the one behind is named with its chain,
    and one served does not stand in for the other."""
    labels = ["USDC/USD", "USDC/USD on arbitrum"]
    feeds = [
        {"feed_pair": "USDC/USD", "chain": "ethereum", "data_as_of": "2026-11-24T00:00:00Z"},
        {"feed_pair": "USDC/USD", "chain": "arbitrum", "data_as_of": "2026-11-23T12:00:00Z"},
    ]
    for ordered in (feeds, feeds[::-1]):
        fresh, message = evaluate(URL, {"data_version": "v8", "feeds": ordered}, END, labels)
        assert not fresh and "only USDC/USD on arbitrum up to 2026-11-23T12:00:00+00:00" in message
        assert "only USDC/USD up to" not in message
    fresh, message = evaluate(URL, {"data_version": "v8", "feeds": feeds[:1]}, END, labels)
    assert not fresh and "no data for USDC/USD on arbitrum" in message


def test_garbage_is_not_fresh() -> None:
    fresh, message = evaluate(URL, "<html>oops</html>", END, ["USDC/USD"])
    assert not fresh and "did not answer the freshness JSON" in message


@pytest.mark.parametrize(
    ("host", "port", "schema", "expected"),
    [
        ("http://dash:8501/", None, None, "http://dash:8501"),
        ("dash", 8501, None, "http://dash:8501"),
        ("dash.example.com", None, "https", "https://dash.example.com"),
        ("http://dash/peg/", 8501, None, "http://dash:8501/peg"),  # the port before the path
    ],
)
def test_dashboard_url_from_connection_fields(host, port, schema, expected) -> None:
    assert dashboard_url(host, port, schema) == expected


def test_dashboard_url_needs_a_host() -> None:
    with pytest.raises(ValueError, match="no host"):
        dashboard_url(None)
