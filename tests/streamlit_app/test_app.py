"""The app as it is served (`streamlit run streamlit_app/app.py` in a subprocess): the freshness
route over HTTP, and every page in a real headless Chromium (Debian's), with screenshots in artifacts/."""

from __future__ import annotations

import json
import shutil
import tempfile
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import pytest
import requests

from chainlink_feeds.registry import load_market, load_registry
from devstack.chain.stack_chains import ETHEREUM  # the marts fixture loads the Ethereum node's feeds
from tests.streamlit_app.conftest import ARTIFACTS, TEST_PASSWORD, emulator_env, execute, free_port, running_app
from tests.support.pipeline import query

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
LABEL = "SIMULATED test history (not real market data)"  # as the local stack labels its data
PAGES = {
    "": "Peg Deviation",
    "peg_zscore": "Peg Z-Score",
    "depeg_events": "Depeg Events",
    "feed_health": "Feed Health",
    "market_vs_oracle": "Market vs Oracle",
}


@pytest.fixture(scope="module")
def served(marts, tmp_path_factory) -> Iterator[str]:
    with running_app(emulator_env(marts, PEG_DATA_LABEL=LABEL), tmp_path_factory.mktemp("app")) as url:
        yield url


def iso(value) -> str | None:
    return None if value is None else value.to_pydatetime().replace(tzinfo=UTC).isoformat()


def test_freshness_route_reports_what_the_app_serves(served, marts) -> None:
    staleness = query(
        f"select feed_pair, chain, data_as_of, last_updated_at, "
        f"(select max(m.priced_at) from {marts}.STABLECOIN_MARKET_VS_ORACLE as m "
        f"where m.chain = s.chain and m.proxy_address = s.proxy_address) as market_as_of, "
        f"(select count(*) from {marts}.STABLECOIN_MARKET_VS_ORACLE as m "
        f"where m.chain = s.chain and m.proxy_address = s.proxy_address) as market_readings "
        f"from {marts}.CHAINLINK_FEED_STALENESS as s order by feed_pair, chain"
    )
    market = load_market()
    with_pools = {f.pair for f in market.feeds if market.sources_of(f.chain, f.pair)}  # all on Ethereum
    assert set(staleness.feed_pair[staleness.market_readings > 0]) == with_pools  # the others have no market
    answer = requests.get(f"{served}/api/freshness", timeout=30)
    assert answer.status_code == 200
    assert answer.headers["content-type"] == "application/json"
    body = answer.json()
    assert list(body) == ["app_version", "data_version", "served_at", "data_as_of", "feeds", "data_label"]
    assert body["data_label"] == LABEL
    from peg_dashboard import __version__

    assert body["app_version"] == __version__
    assert len(body["data_version"]) == 12
    served_at = datetime.fromisoformat(body["served_at"])
    assert served_at.tzinfo is not None and abs(datetime.now(UTC) - served_at) < timedelta(minutes=1)
    assert body["feeds"] == [
        {
            "feed_pair": r.feed_pair,
            "chain": r.chain,
            "data_as_of": iso(r.data_as_of),
            "last_updated_at": iso(r.last_updated_at),
            "market_as_of": iso(r.market_as_of) if r.market_readings else None,
        }
        for r in staleness.itertuples()
    ]
    assert body["data_as_of"] == iso(staleness.data_as_of.min())
    assert TEST_PASSWORD not in answer.text

    # no input: query parameters (SQL included) change nothing; other methods are refused
    again = requests.get(f"{served}/api/freshness", params={"sql": "drop table x", "feed": "USDC"}, timeout=30)
    assert {k: v for k, v in again.json().items() if k != "served_at"} == {
        k: v for k, v in body.items() if k != "served_at"
    }
    assert requests.post(f"{served}/api/freshness", data="select 1", timeout=30).status_code == 405
    assert requests.get(f"{served}/_stcore/health", timeout=30).text == "ok"


def test_freshness_gives_no_market_time_for_a_feed_without_pools(marts_copy, monkeypatch) -> None:
    execute(f"delete from {marts_copy}.STABLECOIN_MARKET_VS_ORACLE where feed_pair = 'DAI/USD'")
    newest = query(f"select feed_pair, max(priced_at) as at from {marts_copy}.STABLECOIN_MARKET_VS_ORACLE group by 1")
    for name, value in emulator_env(marts_copy).items():
        monkeypatch.setenv(name, value)
    from peg_dashboard.freshness import freshness

    answer = freshness(None)  # the route's function, in this process (it reads nothing from the request)
    assert answer.status_code == 200
    markets = {feed["feed_pair"]: feed["market_as_of"] for feed in json.loads(answer.body)["feeds"]}
    feeds = query(f"select feed_pair from {marts_copy}.CHAINLINK_FEED_STALENESS").feed_pair
    assert "DAI/USD" in set(feeds) and "DAI/USD" not in set(newest.feed_pair)
    assert markets == {pair: None for pair in feeds} | {r.feed_pair: iso(r.at) for r in newest.itertuples()}


@pytest.fixture(scope="module")
def browser() -> Iterator[object]:
    from playwright.sync_api import sync_playwright

    profile = tempfile.mkdtemp(prefix="chromium-profile-")
    with sync_playwright() as playwright:
        context = playwright.chromium.launch_persistent_context(
            profile,
            executable_path=CHROMIUM,
            headless=True,
            viewport={"width": 1400, "height": 2400},
            args=[
                "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                "--disable-background-networking", "--disable-component-update", "--disable-sync",
            ],
        )  # fmt: skip
        try:
            yield context
        finally:
            context.close()
            shutil.rmtree(profile, ignore_errors=True)


@pytest.mark.parametrize("path", list(PAGES))
def test_every_page_renders_in_chromium(served, browser, path) -> None:
    page = browser.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    try:
        page.goto(f"{served}/{path}", wait_until="domcontentloaded")
        page.get_by_role("heading", name=PAGES[path], level=1).wait_for(timeout=60_000)
        page.wait_for_selector("text=Refreshed", timeout=60_000)  # the page body ran to its end
        if path != "feed_health":
            page.wait_for_selector("[data-testid=stVegaLiteChart] canvas, [data-testid=stVegaLiteChart] svg")
        page.wait_for_timeout(1000)  # let the charts draw
        ARTIFACTS.mkdir(exist_ok=True)
        page.screenshot(path=str(ARTIFACTS / f"dashboard_{path or 'peg_deviation'}.png"), full_page=True)

        assert page.locator("[data-testid=stException]").count() == 0
        assert page.locator("[data-testid=stAlertContentError]").count() == 0
        assert not errors
        sidebar = page.locator("[data-testid=stSidebar]").inner_text()
        assert "Connected to the local Snowflake emulator" in sidebar
        assert page.locator("[data-testid=stAlertContentWarning]", has_text=LABEL).count() == 1
        assert TEST_PASSWORD not in page.content()
        version = requests.get(f"{served}/api/freshness", timeout=30).json()["data_version"]
        assert f"Data version {version}" in " ".join(sidebar.split())
        if path == "":
            assert page.locator("[data-testid=stMetric]").count() == len(
                ETHEREUM.feeds(load_registry())
            )  # a card per feed
    finally:
        page.close()


def test_a_malformed_data_label_answers_503_naming_it(marts, tmp_path) -> None:
    with running_app(emulator_env(marts, PEG_DATA_LABEL="S" * 201), tmp_path) as url:
        answer = requests.get(f"{url}/api/freshness", timeout=60)
    assert answer.status_code == 503
    assert "PEG_DATA_LABEL" in answer.json()["error"] and "at most 200 printable characters" in answer.json()["error"]


def test_unreachable_warehouse_answers_503_and_shows_an_error_without_traceback(marts, browser, tmp_path) -> None:
    env = emulator_env(marts, SNOWFLAKE_PORT=str(free_port()))
    with running_app(env, tmp_path) as url:
        answer = requests.get(f"{url}/api/freshness", timeout=60)
        assert answer.status_code == 503
        assert answer.json() == {"error": "the warehouse is unreachable"}
        assert requests.get(f"{url}/_stcore/health", timeout=30).status_code == 200

        page = browser.new_page()
        try:
            page.goto(url, wait_until="domcontentloaded")
            alert = page.locator("[data-testid=stAlertContentError]")
            alert.wait_for(timeout=60_000)
            page.screenshot(path=str(ARTIFACTS / "dashboard_unreachable.png"), full_page=True)
            assert "Cannot read from local Snowflake emulator" in alert.inner_text()
            assert page.locator("[data-testid=stException]").count() == 0
            assert "Not connected" in page.locator("[data-testid=stSidebar]").inner_text()
            assert TEST_PASSWORD not in page.content()
        finally:
            page.close()
