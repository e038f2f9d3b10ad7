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


def line_symbols(chart) -> set[str]:
    """The tokens one deviation chart draws (its dataset with a `symbol` column: the chart's lines)."""
    from streamlit.dataframe_util import convert_arrow_bytes_to_pandas_df

    frames = [convert_arrow_bytes_to_pandas_df(d.data.data) for d in chart.proto.datasets]
    return {symbol for frame in frames if "symbol" in frame for symbol in frame["symbol"]}


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


def depeg_days_with_own_thresholds(app, marts_copy: str, stack, where: str):
    """The app over the depeg's last two days, run after the feeds `where` selects were given
    thresholds of their own: warning from 300 bps, critical from 1000 bps."""
    from tests.streamlit_app.conftest import execute

    execute(f"update {marts_copy}.CHAINLINK_FEED_STALENESS set warning_bps = 300, critical_bps = 1000 where {where}")
    depeg_day = stack.depeg_start.date()
    at = app(marts_copy, start=str(depeg_day - 2 * DAY), end=str(depeg_day)).run()
    assert not at.exception, at.exception
    return at


def test_a_feed_with_its_own_thresholds_gets_its_own_bands_and_caption(app, marts_copy, stack) -> None:
    at = depeg_days_with_own_thresholds(app, marts_copy, stack, "feed_pair = 'USDC/USD'")
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


def test_a_pair_on_two_chains_is_charted_at_each_chains_own_thresholds(app, marts_copy, stack, all_feeds) -> None:
    """USDC/USD on Arbitrum with thresholds of its own (its rows here: Ethereum's, under Arbitrum's
    registry proxy): its line alone over its bands, Ethereum's USDC with the other dollar coins, and
    the captions name the chain where the token alone is ambiguous."""
    from tests.streamlit_app.conftest import execute

    proxy = next(f.proxy for f in all_feeds if f.chain == "arbitrum" and f.pair == "USDC/USD")
    for table in ("CHAINLINK_FEED_STALENESS", "STABLECOIN_PEG_HEALTH"):
        execute(
            f"create table {marts_copy}.L2_{table} as select * from {marts_copy}.{table} where feed_pair = 'USDC/USD'",
            f"update {marts_copy}.L2_{table} set chain = 'arbitrum', proxy_address = '{proxy}'",
            f"insert into {marts_copy}.{table} select * from {marts_copy}.L2_{table}",
        )
    at = depeg_days_with_own_thresholds(app, marts_copy, stack, "chain = 'arbitrum'")
    caption = at.caption[0].value
    assert "; USDC (arbitrum): warning from 300 bps, critical from 1000 bps" in caption
    dollars = caption.split(": warning from 50 bps")[0].split(", ")
    assert {"USDC", "USDT"} <= set(dollars) and not any("(arbitrum)" in name for name in dollars)
    charts = dict(zip(bands_by_heading(at), deviation_charts(at), strict=True))
    arbitrum = next(chart for heading, chart in charts.items() if heading.startswith("**USDC/USD on arbitrum**:"))
    assert {300.0, 1000.0} <= band_values(arbitrum) and 50.0 not in band_values(arbitrum)
    assert line_symbols(arbitrum) == {"USDC (arbitrum)"}  # as the chart's legend names it
    others = next(chart for heading, chart in charts.items() if heading.startswith("**DAI/USD"))
    assert {50.0, 100.0} <= band_values(others) and 300.0 not in band_values(others)
    assert {"USDC", "USDT"} <= line_symbols(others) and "USDC (arbitrum)" not in line_symbols(others)

    at.switch_page("app_pages/depeg_events.py").run()
    assert not at.exception, at.exception
    assert "; USDC (arbitrum): 300 bps)" in at.caption[0].value
