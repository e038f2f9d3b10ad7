"""Peg Z-Score: the counts and the table of outliers and unusual hours equal the z-score mart."""

from __future__ import annotations

from datetime import timedelta

import pandas as pd
import pytest

from tests.support.pipeline import query

DAY = timedelta(days=1)


def zscores(marts: str, start, end, pair: str | None = None) -> pd.DataFrame:
    frame = query(
        f"select hour_at, feed_pair, symbol, z_score, is_unusual, is_outlier from {marts}.STABLECOIN_PEG_ZSCORE "
        f"where hour_at >= '{start:%Y-%m-%d}' and hour_at < '{end:%Y-%m-%d}'"
    )
    return frame[frame.feed_pair == pair] if pair else frame


def check_page(at, marts: str, start, end, pair: str | None = None) -> None:
    assert not at.exception, at.exception
    expected = zscores(marts, start, end, pair)
    z = expected["z_score"].astype(float)
    metrics = {m.label: m.value for m in at.metric}
    assert metrics == {
        "Outlier hours (|z| > 2)": f"{int(expected.is_outlier.sum()):,}",
        "Unusual hours (|z| > 1)": f"{int(expected.is_unusual.sum()):,}",
        "Hours with a z-score": f"{int(z.notna().sum()):,}",
        "Hours in view": f"{len(expected):,}",
    }
    assert expected.is_outlier.sum() > 0 and (z.abs() > 2).sum() == expected.is_outlier.sum()

    flagged = expected[expected.is_unusual]
    shown = at.dataframe[0].value
    assert len(shown) == min(500, len(flagged)) > 0
    keys = set(zip(flagged.hour_at, flagged.symbol, strict=True))
    assert set(zip(shown.hour_at, shown.symbol, strict=True)) <= keys
    assert (shown["z_score"].abs() > 1).all()
    assert list(shown["flag"]) == ["outlier" if abs(v) > 2 else "unusual" for v in shown["z_score"]]
    assert list(shown["z_score"].abs()) == sorted(shown["z_score"].abs(), reverse=True)
    by_key = {(r.hour_at, r.symbol): float(r.z_score) for r in flagged.itertuples()}
    assert shown["z_score"].to_numpy() == pytest.approx(
        [by_key[(h, s)] for h, s in zip(shown.hour_at, shown.symbol, strict=True)]
    )
    if len(flagged) > len(shown):  # the table keeps the most extreme
        hidden = flagged[
            ~flagged.set_index(["hour_at", "symbol"]).index.isin(list(zip(shown.hour_at, shown.symbol, strict=True)))
        ]
        assert hidden["z_score"].astype(float).abs().max() <= shown["z_score"].abs().min()
    if pair:
        assert set(shown["feed_pair"]) == {pair}
    # heatmap, series, two distributions, rolling mean and standard deviation
    assert len(at.get("vega_lite_chart")) == 6


def test_zscore_page_equals_the_mart_and_follows_the_token_filter(app, marts, stack) -> None:
    first, last = stack.end.date() - 21 * DAY, stack.end.date() - DAY
    at = app().run()
    at.switch_page("app_pages/peg_zscore.py").run()
    assert at.title[0].value == "Peg Z-Score"
    check_page(at, marts, first, last + DAY)
    everything = {m.label: m.value for m in at.metric}

    at.selectbox[0].set_value("DAI/USD").run()
    check_page(at, marts, first, last + DAY, pair="DAI/USD")
    assert {m.label: m.value for m in at.metric} != everything

    start = stack.depeg_start.date()
    at.date_input[0].set_value((start, start + 2 * DAY)).run()
    check_page(at, marts, start, start + 3 * DAY, pair="DAI/USD")
