"""The dashboard takes each feed's thresholds from the marts (the registry's, via dbt): captions name
them and the deviation chart draws a feed's bands at its own thresholds."""

from __future__ import annotations

from datetime import timedelta

DAY = timedelta(days=1)


def band_values(chart) -> set[float]:
    """The |y| of the warning/critical bands and rules in one Vega-Lite chart (its datasets with a
    `level` column, as Streamlit sends them: Arrow tables beside the spec)."""
    from streamlit.dataframe_util import convert_arrow_bytes_to_pandas_df

    frames = [convert_arrow_bytes_to_pandas_df(d.data.data) for d in chart.proto.datasets]
    return {abs(float(y)) for frame in frames if "level" in frame for y in frame["y"]}


def deviation_charts(at) -> list:
    return [c for c in at.get("vega_lite_chart") if "deviation from peg" in c.proto.spec]


def bands_by_heading(at) -> dict[str, set[float]]:
    """Each deviation chart's bands, by the heading naming its feeds (shown when thresholds differ)."""
    headings = [m.value for m in at.markdown if m.value.startswith("**") and "warning from" in m.value]
    return dict(zip(headings, map(band_values, deviation_charts(at)), strict=True))


def test_the_dollar_coins_share_one_chart_and_the_euro_coin_gets_its_own(app, stack) -> None:
    """The registry's defaults (50 / 100 bps) for every dollar coin, EURC's own (100 / 200 bps)."""
    at = app(start=str(stack.depeg_start.date() - 2 * DAY), end=str(stack.depeg_start.date())).run()
    assert not at.exception, at.exception
    caption = at.caption[0].value
    assert "USDS, USDT, USDe, crvUSD: warning from 50 bps, critical from 100 bps" in caption
    assert "; EURC: warning from 100 bps, critical from 200 bps" in caption
    bands = bands_by_heading(at)
    assert len(bands) == len(deviation_charts(at)) == 2
    eurc = next(values for heading, values in bands.items() if heading.startswith("**EURC/USD**"))
    dollars = next(values for heading, values in bands.items() if not heading.startswith("**EURC/USD**"))
    assert {100.0, 200.0} <= eurc and 50.0 not in eurc
    assert {50.0, 100.0} <= dollars and 200.0 not in dollars


def test_a_feed_with_its_own_thresholds_gets_its_own_bands_and_caption(app, marts_copy, stack) -> None:
    from tests.streamlit_app.conftest import execute

    execute(
        f"update {marts_copy}.CHAINLINK_FEED_STALENESS set warning_bps = 300, critical_bps = 1000 "
        f"where feed_pair = 'USDC/USD'"
    )
    depeg_day = stack.depeg_start.date()
    at = app(marts_copy, start=str(depeg_day - 2 * DAY), end=str(depeg_day)).run()
    assert not at.exception, at.exception
    caption = at.caption[0].value
    assert "USDC: warning from 300 bps, critical from 1000 bps" in caption
    assert "USDS, USDT, USDe, crvUSD: warning from 50 bps, critical from 100 bps" in caption
    bands = bands_by_heading(at)
    assert len(bands) == len(deviation_charts(at)) == 3  # USDC's, EURC's and the other dollar coins'
    usdc = next(values for heading, values in bands.items() if heading.startswith("**USDC/USD**"))
    others = next(values for heading, values in bands.items() if heading.startswith("**DAI/USD"))
    assert {300.0, 1000.0} <= usdc and not {50.0, 100.0} & usdc
    assert {50.0, 100.0} <= others and not {300.0, 1000.0} & others

    at.switch_page("app_pages/depeg_events.py").run()
    assert not at.exception, at.exception
    assert "its feed's warning threshold (" in at.caption[0].value and "USDC: 300 bps" in at.caption[0].value
