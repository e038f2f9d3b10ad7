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


def test_default_thresholds_give_one_chart_with_50_and_100_bps_bands(app, stack) -> None:
    at = app(start=str(stack.depeg_start.date() - 2 * DAY), end=str(stack.depeg_start.date())).run()
    assert not at.exception, at.exception
    assert "Thresholds per feed (from the registry): warning from 50 bps, critical from 100 bps" in at.caption[0].value
    (chart,) = deviation_charts(at)
    assert {50.0, 100.0} <= band_values(chart)


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
    assert "USDT, DAI: warning from 50 bps, critical from 100 bps" in caption or (
        "DAI, USDT: warning from 50 bps, critical from 100 bps" in caption
    )
    charts = deviation_charts(at)
    assert len(charts) == 2
    headings = [m.value for m in at.markdown if m.value.startswith("**") and "warning from" in m.value]
    bands = dict(zip(headings, map(band_values, charts), strict=True))
    usdc = next(values for heading, values in bands.items() if heading.startswith("**USDC/USD**"))
    others = next(values for heading, values in bands.items() if not heading.startswith("**USDC/USD**"))
    assert {300.0, 1000.0} <= usdc and not {50.0, 100.0} & usdc
    assert {50.0, 100.0} <= others and not {300.0, 1000.0} & others

    at.switch_page("app_pages/depeg_events.py").run()
    assert not at.exception, at.exception
    assert "its feed's warning threshold (" in at.caption[0].value and "USDC: 300 bps" in at.caption[0].value
