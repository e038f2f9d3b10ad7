"""Uniswap v3 maths against the contracts' own constants and the recorded file's README figures."""

from __future__ import annotations

from decimal import Decimal, localcontext

import pytest

from market_pools import pricing

# TickMath.MIN_SQRT_RATIO and MAX_SQRT_RATIO, as the contract declares them.
MIN_SQRT_RATIO, MAX_SQRT_RATIO = 4295128739, 1461446703485210103287273052203988822378723970342


def test_tickmath_matches_the_contracts_bounds_and_tick_zero() -> None:
    assert pricing.sqrt_ratio_at_tick(pricing.MIN_TICK) == MIN_SQRT_RATIO
    assert pricing.sqrt_ratio_at_tick(pricing.MAX_TICK) == MAX_SQRT_RATIO
    assert pricing.sqrt_ratio_at_tick(0) == pricing.Q96
    with pytest.raises(ValueError, match="outside"):
        pricing.sqrt_ratio_at_tick(pricing.MAX_TICK + 1)


@pytest.mark.parametrize("tick", [-887272, -200_000, -9, -1, 1, 24, 117, 131, 200_000, 887271])
def test_each_ticks_price_lies_in_its_tick(tick: int) -> None:
    """The price at a tick's sqrt ratio is 1.0001**tick, within the ratio's rounding to an integer and
    TickMath's 128-bit constants (a relative 5e-20 at the far end)."""
    ratio = pricing.sqrt_ratio_at_tick(tick)
    with localcontext() as ctx:
        ctx.prec = 80
        error = abs(pricing.price(ratio, 0, 0) / Decimal("1.0001") ** tick - 1)
    assert error < Decimal(3) / ratio + Decimal("1e-19")


def test_readme_figures_of_the_recorded_pool() -> None:
    """tick 117: 1 USDC = 1.0118 USDT; the median tick -1: 0.9999 (both 6 decimals)."""
    assert pricing.tick_price(117, 6, 6).quantize(Decimal("0.0001")) == Decimal("1.0118")
    assert pricing.tick_price(-1, 6, 6).quantize(Decimal("0.0001")) == Decimal("0.9999")


def test_decimals_turn_raw_units_into_whole_tokens() -> None:
    """A USDC/WETH pool (6 and 18 decimals) at 1 WETH = 2,500 USDC: sqrtPriceX96 of 1e18 / 2.5e9 raw."""
    sqrt_price = int((Decimal(10**18) / Decimal(2_500 * 10**6)).sqrt() * pricing.Q96)
    assert abs(pricing.price(sqrt_price, 6, 18) * 2_500 - 1) < Decimal("1e-15")


def test_twap_tick_rounds_to_negative_infinity() -> None:
    assert pricing.twap_tick((0, 1800 * 5), 1800) == 5
    assert pricing.twap_tick((0, -1800 * 5 - 1), 1800) == -6  # OracleLibrary: -5.0005 -> -6
    assert pricing.twap_tick((100, 100), 1800) == 0


@pytest.mark.parametrize("zero_for_one", [True, False])
def test_a_sized_quote_pays_the_fee_and_loses_more_the_thinner_the_pool(zero_for_one: bool) -> None:
    sqrt_price, amount = pricing.sqrt_ratio_at_tick(-1), 10**12  # $1M of a 6-decimal stablecoin
    deep = pricing.sell_quote(amount, sqrt_price, 4 * 10**17, 100, zero_for_one)
    thin = pricing.sell_quote(amount, sqrt_price, 10**11, 100, zero_for_one)  # a tenth of the trade in range
    deep_bps = pricing.slippage_bps(amount, deep, sqrt_price, zero_for_one)
    thin_bps = pricing.slippage_bps(amount, thin, sqrt_price, zero_for_one)
    assert Decimal(1) <= deep_bps < Decimal("1.1")  # the 0.01 % fee and a little impact
    assert thin_bps > 9_000
    assert pricing.sell_quote(amount, sqrt_price, 0, 100, zero_for_one) is None
