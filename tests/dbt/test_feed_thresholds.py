"""A feed with its own thresholds in the registry gets its statuses, events and time off peg from
them in every mart; a feed on the defaults keeps 50 / 100 bps."""

from __future__ import annotations

import uuid
from datetime import timedelta
from pathlib import Path

import numpy as np
import pytest

from chainlink_feeds.operators import ChainlinkFeedOperator
from chainlink_feeds.registry import DEFAULT_REGISTRY
from tests.support.pipeline import create_schema, dbt_build, drop_pipeline, query

DAY = timedelta(days=1)
# USDC warns only from 3 % and is critical from 10 %: its depeg to ~0.88 crosses both.
OWN = {"warning_bps": 300, "critical_bps": 1000, "hysteresis_bps": 25}


@pytest.fixture(scope="module")
def built(stack, tmp_path_factory):
    """USDC (own thresholds) and DAI (defaults) over the depeg days, loaded with a registry that
    overrides USDC's thresholds, then built."""
    work = tmp_path_factory.mktemp("thresholds")
    registry = work / "feeds.yaml"
    overrides = "".join(f"    {k}: {v}\n" for k, v in OWN.items())
    registry.write_text(
        DEFAULT_REGISTRY.read_text().replace("    peg_usd: 1.00\n", "    peg_usd: 1.00\n" + overrides, 1)
    )
    midnight = stack.depeg_start.replace(hour=0, minute=0, second=0, microsecond=0)
    raw = f"THR_{uuid.uuid4().hex[:8].upper()}"
    create_schema(raw)
    try:
        for pair in ("USDC/USD", "DAI/USD"):
            for day in [midnight + DAY * i for i in range(4)]:
                ChainlinkFeedOperator(
                    task_id="load", feed_pair=pair, window_start=day.isoformat(), window_end=(day + DAY).isoformat(),
                    raw_schema=raw, registry_path=Path(registry),
                ).execute({"run_id": "test_thresholds"})  # fmt: skip
        result = dbt_build(raw, f"{raw}_A", work)
        assert result.returncode == 0, result.stdout[-4000:]
        yield f"{raw}_A_MARTS"
    finally:
        drop_pipeline(raw)


def test_each_feed_is_judged_by_its_own_thresholds(built) -> None:
    health = query(
        f"select feed_pair, abs_deviation_bps, peg_status, warning_bps, critical_bps from {built}.STABLECOIN_PEG_HEALTH"
    )
    health["abs_deviation_bps"] = health["abs_deviation_bps"].astype(float)
    usdc, dai = health[health.feed_pair == "USDC/USD"], health[health.feed_pair == "DAI/USD"]
    assert set(zip(usdc.warning_bps, usdc.critical_bps, strict=True)) == {(300, 1000)}
    assert set(zip(dai.warning_bps, dai.critical_bps, strict=True)) == {(50, 100)}
    for frame, warning, critical in ((usdc, 300, 1000), (dai, 50, 100)):
        bps = frame["abs_deviation_bps"]
        expected = np.where(bps >= critical, "critical", np.where(bps >= warning, "warning", "healthy"))
        assert (frame["peg_status"] == expected).all()
    # prices a default feed would call warning or critical are healthy for USDC, and all three statuses occur
    assert ((usdc.abs_deviation_bps.between(50, 300, inclusive="left")) & (usdc.peg_status == "healthy")).any()
    assert set(usdc.peg_status) == set(dai.peg_status) == {"healthy", "warning", "critical"}


def test_events_and_time_off_peg_use_the_feeds_warning_threshold(built) -> None:
    events = query(
        f"select feed_pair, worst_abs_deviation_bps, worst_status, warning_bps from {built}.STABLECOIN_DEPEG_EVENTS"
    )
    usdc = events[events.feed_pair == "USDC/USD"]
    assert len(usdc) and (usdc.warning_bps == 300).all()
    assert (usdc.worst_abs_deviation_bps.astype(float) >= 300).all() and "critical" in set(usdc.worst_status)
    assert (events[events.feed_pair == "DAI/USD"].warning_bps == 50).all()
    health = query(
        f"select feed_pair, served_from, abs_deviation_bps from {built}.STABLECOIN_PEG_HEALTH "
        f"where feed_pair = 'USDC/USD' order by served_from"
    )
    # every USDC round at or beyond 3 % lies inside one of its events, and none between 0.5 % and 3 % starts one
    off = health[health.abs_deviation_bps.astype(float) >= 300]
    assert len(off) >= len(usdc) > 0
    daily = query(
        f"select feed_pair, day, seconds_off_peg, day_status, worst_abs_deviation_bps from {built}.STABLECOIN_PEG_DAILY"
    )
    usdc_days = daily[(daily.feed_pair == "USDC/USD") & daily.worst_abs_deviation_bps.notna()]
    worst = usdc_days.worst_abs_deviation_bps.astype(float)
    assert (usdc_days[worst < 300].seconds_off_peg == 0).all()
    assert (
        usdc_days.day_status == np.where(worst >= 1000, "critical", np.where(worst >= 300, "warning", "healthy"))
    ).all()


def test_the_staleness_mart_carries_every_feeds_thresholds(built) -> None:
    staleness = query(
        f"select feed_pair, warning_bps, critical_bps, hysteresis_bps, heartbeat_grace_seconds "
        f"from {built}.CHAINLINK_FEED_STALENESS order by feed_pair"
    )
    assert [tuple(r) for r in staleness.itertuples(index=False)] == [
        ("DAI/USD", 50, 100, 10, 900),
        ("USDC/USD", 300, 1000, 25, 900),
    ]
