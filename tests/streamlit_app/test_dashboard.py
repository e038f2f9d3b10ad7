"""The router: the sidebar (filters, live connection status, guide), link parameters, and the
error and empty states; and new data showing once the data version changes."""

from __future__ import annotations

import time
from datetime import timedelta

from streamlit.testing.v1 import AppTest

from chainlink_feeds.registry import load_registry
from devstack.chain.stack_chains import ETHEREUM  # the marts fixture loads the Ethereum node's feeds
from tests.streamlit_app.conftest import (
    APP_DIR,
    TEST_PASSWORD,
    emulator_connection,
    emulator_env,
    execute,
    free_port,
)
from tests.support.pipeline import query

DAY = timedelta(days=1)


def all_text(at: AppTest) -> str:
    """Every string the run rendered (elements, widget labels and options, table cells)."""
    parts: list[str] = []

    def walk(node) -> None:
        for child in getattr(node, "children", {}).values():
            parts.append(str(getattr(child, "proto", "")))
            walk(child)

    walk(at._tree)
    parts += [d.value.to_csv() for d in at.dataframe]
    return "\n".join(parts)


def data_version_shown(at: AppTest) -> str:
    caption = next(c.value for c in at.sidebar.caption if c.value.startswith("Data version"))
    return caption.split("`")[1]


def test_sidebar_shows_filters_connection_and_guide_without_secrets(app, marts) -> None:
    at = app().run()
    assert not at.exception and not at.error
    sidebar = [m.value for m in at.sidebar.markdown] + [c.value for c in at.sidebar.caption]
    text = "\n".join(sidebar)
    assert "Connected to the **local Snowflake emulator**" in text
    assert f"schema `{marts}`" in text and "account `fakesnow`" in text and "database `PEG_MONITOR`" in text
    assert "127.0.0.1:" in text and " ms" in text
    assert "**Peg Z-Score**" in text  # the guide
    assert [s.label for s in at.sidebar.selectbox] == ["Token"]
    assert [d.label for d in at.sidebar.date_input] == ["Date range (UTC days)"]
    assert TEST_PASSWORD not in all_text(at)


def test_a_data_label_is_shown_above_the_page_and_nothing_without_one(app) -> None:
    label = "SIMULATED Chainlink history (not real market data)"
    plain = app().run()
    assert not plain.exception and not [w for w in plain.warning if "SIMULATED" in w.value]
    labelled = app()
    labelled.secrets["peg_monitor"] = labelled.secrets["peg_monitor"] | {"data_label": label}
    labelled.run()
    assert not labelled.exception and not labelled.error
    # as typed: its parentheses escaped from markdown
    shown = [w.value for w in labelled.warning if "SIMULATED" in w.value]
    assert shown == ["**SIMULATED Chainlink history \\(not real market data\\)**"]
    assert labelled.metric  # the page itself ran below it


def test_environment_settings_work_without_secrets(marts, monkeypatch) -> None:
    for name, value in emulator_env(marts).items():
        monkeypatch.setenv(name, value)
    at = AppTest.from_file(str(APP_DIR / "dashboard.py"), default_timeout=120)
    at.secrets["unrelated"] = {"note": "no [connections.snowflake] here"}  # and no secrets.toml read
    at.run()
    assert not at.exception and not at.error
    assert len(at.metric) == len(ETHEREUM.feeds(load_registry()))  # a status card per feed
    assert f"schema `{marts}`" in "\n".join(c.value for c in at.sidebar.caption)
    assert TEST_PASSWORD not in all_text(at)


def test_bad_link_parameters_are_ignored_with_a_warning(app, stack) -> None:
    first, last = stack.end.date() - 21 * DAY, stack.end.date() - DAY
    at = app(feed="NOPE';drop table x", start="yesterday", end="2099-01-01", sql="select 1").run()
    assert not at.exception
    warnings = [w.value for w in at.warning]
    assert warnings == [
        "Ignored `feed=NOPE';drop table x`: no such feed in the data; showing all feeds.",
        "Ignored `start=yesterday`: not a date like 2026-01-31.",
        f"The data covers {first} to {last} (UTC); the date range was narrowed to fit.",
    ]
    assert at.selectbox[0].value == "All feeds"
    assert at.date_input[0].value == (first, last)
    assert at.query_params == {"feed": "all", "start": str(first), "end": str(last)}
    assert len(at.metric) == len(ETHEREUM.feeds(load_registry()))  # a status card per feed

    swapped = app(feed="usdc", start=str(last), end=str(first)).run()
    assert [w.value for w in swapped.warning] == [f"Ignored the range {last} to {first}: the start is after the end."]
    assert swapped.selectbox[0].value == "USDC/USD"
    assert swapped.date_input[0].value == (first, last)


def test_unreachable_warehouse_shows_what_to_fix(app) -> None:
    at = app(connection=emulator_connection(port=free_port())).run()
    assert not at.exception
    assert len(at.error) == 1
    message = at.error[0].value
    assert message.startswith("**The dashboard cannot read the marts.** Cannot read from local Snowflake emulator")
    assert "make stack-up" in message
    assert "Not connected" in "\n".join(m.value for m in at.sidebar.markdown)
    assert not at.metric and not at.dataframe
    assert TEST_PASSWORD not in all_text(at)


def test_no_configuration_says_what_to_set() -> None:
    at = AppTest.from_file(str(APP_DIR / "dashboard.py"), default_timeout=60)
    at.secrets["peg_monitor"] = {"marts_schema": "ANALYTICS_MARTS"}  # secrets, but no connection in them
    at.run()
    assert not at.exception
    message = at.error[0].value
    assert "No Snowflake connection is configured" in message
    assert "[connections.snowflake]" in message and "SNOWFLAKE_ACCOUNT" in message


def test_bad_marts_schema_name_is_rejected(app) -> None:
    at = app(marts_schema="MARTS; drop table x").run()
    assert not at.exception
    assert "is not a plain Snowflake identifier" in at.error[0].value


def test_missing_marts_say_how_to_build_them(app) -> None:
    at = app(marts_schema="NO_SUCH_MARTS").run()
    assert not at.exception
    message = at.error[0].value
    assert "The marts are not in `PEG_MONITOR.NO_SUCH_MARTS`" in message and "make demo" in message


def test_empty_marts_show_an_empty_state(app, marts_copy) -> None:
    execute(*(f"delete from {marts_copy}.{t}" for t in ("CHAINLINK_FEED_STALENESS", "STABLECOIN_PEG_DAILY")))
    at = app(marts_schema=marts_copy).run()
    assert not at.exception and not at.error
    assert at.info[0].value.startswith("The marts hold no data yet.")
    assert not at.metric


def test_new_data_shows_once_the_data_version_changes(app, marts_copy, monkeypatch) -> None:
    monkeypatch.setenv("PEG_DATA_VERSION_TTL", "1")
    at = app(marts_schema=marts_copy).run()
    newest = at.dataframe[0].value.iloc[0]
    version = data_version_shown(at)
    pair = query(f"select feed_pair from {marts_copy}.CHAINLINK_FEED_STALENESS where symbol = '{newest.symbol}'")
    pair = pair.feed_pair[0]  # the feed of the newest round (an hourly one: DAI, FRAX, LUSD or USDP)
    # a new round of it lands one minute after the newest one, with the staleness mart rebuilt
    landed = newest.served_from + timedelta(minutes=1)
    execute(
        f"insert into {marts_copy}.STABLECOIN_PEG_HEALTH select chain, proxy_address, feed_pair, symbol, "
        f"round_id + 1, phase_id, '{landed}'::timestamp_ntz, '{landed}'::timestamp_ntz, 0.99, peg_usd, "
        f"peg_reference_pair, peg_reference_round_id, -1.0, 1.0, -100.0, 100.0, 'critical', warning_bps, "
        f"critical_bps, 60, false, sequencer_status, is_price_trusted from {marts_copy}.STABLECOIN_PEG_HEALTH "
        f"where feed_pair = '{pair}' "
        f"order by served_from desc limit 1",
        f"update {marts_copy}.CHAINLINK_FEED_STALENESS set last_updated_at = '{landed}'::timestamp_ntz, "
        f"rounds_loaded = rounds_loaded + 1 where feed_pair = '{pair}'",
    )
    time.sleep(1.2)
    at.run()
    assert not at.exception
    shown = at.dataframe[0].value.iloc[0]
    assert (shown.served_from, shown.price_usd, shown.peg_status) == (landed, 0.99, "critical")
    assert next(m for m in at.metric if m.label == newest.symbol).value == "$0.9900"
    assert data_version_shown(at) != version


def test_a_new_market_reading_alone_changes_the_data_version(marts_copy, monkeypatch) -> None:
    """A near-real-time run's pool load may commit after its round load: the version must turn over
    on the market alone, or the market shown (and /api/freshness) waits for the next run."""
    for name, value in emulator_env(marts_copy, PEG_DATA_VERSION_TTL="1").items():
        monkeypatch.setenv(name, value)
    from peg_dashboard import data

    before = data.data_version()
    market = f"{marts_copy}.STABLECOIN_MARKET_VS_ORACLE"
    newest = f"(select max(priced_at) from {market} where feed_pair = 'USDC/USD')"
    execute(
        f"create table {marts_copy}.NEXT_READING as select * from {market} "
        f"where feed_pair = 'USDC/USD' and priced_at = {newest}",
        f"update {marts_copy}.NEXT_READING set priced_at = dateadd('minute', 1, priced_at)",
        f"insert into {market} select * from {marts_copy}.NEXT_READING",
    )
    time.sleep(1.2)
    after = data.data_version()
    assert after.token != before.token
    assert (after.data_as_of, after.feeds) == (before.data_as_of, before.feeds)  # nothing else changed
    frame = data.freshness()[1].set_index("feed_pair")
    landed = query(f"select max(priced_at) as at from {market} where feed_pair = 'USDC/USD'").iloc[0]["at"]
    assert frame.loc["USDC/USD", "market_as_of"] == landed


def test_the_last_day_follows_near_real_time_loads_before_the_daily_table(app, marts_copy, stack, monkeypatch) -> None:
    """The near-real-time DAG loads past midnight into the views; the daily table has no row for the
    new day until the daily DAG runs, yet the range (status cards, Peg Deviation) reaches it."""
    monkeypatch.setenv("PEG_DATA_VERSION_TTL", "1")
    first, last = stack.end.date() - 21 * DAY, stack.end.date() - DAY
    following = app(marts_schema=marts_copy).run()
    assert following.date_input[0].value == (first, last)
    execute(
        f"update {marts_copy}.CHAINLINK_FEED_STALENESS "
        f"set data_as_of = '{stack.end.date()} 05:30:00'::timestamp_ntz where feed_pair = 'DAI/USD'"
    )
    time.sleep(1.2)
    following.run()
    assert not following.exception
    assert following.date_input[0].value == (first, last + DAY)


def test_a_range_ending_on_the_last_day_follows_new_days(app, marts_copy, stack, monkeypatch) -> None:
    monkeypatch.setenv("PEG_DATA_VERSION_TTL", "1")
    first, last = stack.end.date() - 21 * DAY, stack.end.date() - DAY
    following = app(marts_schema=marts_copy).run()
    pinned = app(marts_schema=marts_copy, start=str(first), end=str(last - DAY)).run()
    assert following.date_input[0].value == (first, last)
    # the next day lands (a daily row per feed; the data version changes with the row count)
    execute(
        f"insert into {marts_copy}.STABLECOIN_PEG_DAILY select chain, proxy_address, feed_pair, symbol, "
        f"dateadd('day', 1, day), open_price_usd, close_price_usd, low_price_usd, high_price_usd, 0, 0, "
        f"worst_abs_deviation_bps, worst_abs_z_score, day_status, 0, null, 0, null, false "
        f"from {marts_copy}.STABLECOIN_PEG_DAILY "
        f"where day = '{last}'"
    )
    time.sleep(1.2)
    following.run()
    pinned.run()
    assert not following.exception and not pinned.exception
    assert following.date_input[0].value == (first, last + DAY)
    assert following.query_params["end"] == str(last + DAY)
    assert pinned.date_input[0].value == (first, last - DAY)
