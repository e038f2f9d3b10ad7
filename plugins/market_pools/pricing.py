"""Uniswap v3 prices in exact integer and Decimal maths, as the pool computes them.

A pool stores sqrt(price) as a Q64.96 number (`sqrtPriceX96`), the price being token1 per token0 in
raw units; `tick` is floor(log_1.0001(price)). Nothing here uses floats: stored prices must be what
the chain says, to the last digit kept.
"""

from __future__ import annotations

from decimal import Decimal, localcontext

Q96 = 2**96
MIN_TICK, MAX_TICK = -887272, 887272
FEE_UNITS = 1_000_000  # a pool's fee is in millionths (100 = 0.01 %)
# TickMath.getSqrtRatioAtTick's constants: 2**128 / sqrt(1.0001)**(2**i) for each bit i of |tick|.
_RATIO_BITS = (
    0xFFFCB933BD6FAD37AA2D162D1A594001, 0xFFF97272373D413259A46990580E213A, 0xFFF2E50F5F656932EF12357CF3C7FDCC,
    0xFFE5CACA7E10E4E61C3624EAA0941CD0, 0xFFCB9843D60F6159C9DB58835C926644, 0xFF973B41FA98C081472E6896DFB254C0,
    0xFF2EA16466C96A3843EC78B326B52861, 0xFE5DEE046A99A2A811C461F1969C3053, 0xFCBE86C7900A88AEDCFFC83B479AA3A4,
    0xF987A7253AC413176F2B074CF7815E54, 0xF3392B0822B70005940C7A398E4B70F3, 0xE7159475A2C29B7443B29C7FA6E889D9,
    0xD097F3BDFD2022B8845AD8F792AA5825, 0xA9F746462D870FDF8A65DC1F90E061E5, 0x70D869A156D2A1B890BB3DF62BAF32F7,
    0x31BE135F97D08FD981231505542FCFA6, 0x9AA508B5B7A84E1C677DE54F3E99BC9, 0x5D6AF8DEDB81196699C329225EE604,
    0x2216E584F5FA1EA926041BEDFE98, 0x48A170391F7DC42444E8FA2,
)  # fmt: skip


def sqrt_ratio_at_tick(tick: int) -> int:
    """sqrtPriceX96 at `tick`, bit for bit as TickMath.getSqrtRatioAtTick computes it."""
    if not MIN_TICK <= tick <= MAX_TICK:
        raise ValueError(f"tick {tick} is outside [{MIN_TICK}, {MAX_TICK}]")
    magnitude = abs(tick)
    ratio = _RATIO_BITS[0] if magnitude & 1 else 2**128
    for bit, factor in enumerate(_RATIO_BITS[1:], start=1):
        if magnitude & (1 << bit):
            ratio = (ratio * factor) >> 128
    if tick > 0:
        ratio = (2**256 - 1) // ratio
    return (ratio >> 32) + (0 if ratio % (1 << 32) == 0 else 1)


def price(sqrt_price_x96: int, decimals0: int, decimals1: int) -> Decimal:
    """Whole token1 per whole token0 (e.g. USDT per USDC), to 40 significant digits."""
    with localcontext() as ctx:
        ctx.prec = 40
        return Decimal(sqrt_price_x96) ** 2 / Decimal(Q96**2) * Decimal(10) ** (decimals0 - decimals1)


def tick_price(tick: int, decimals0: int, decimals1: int) -> Decimal:
    """1.0001 ** tick in whole token1 per whole token0: the price at a tick's lower edge."""
    with localcontext() as ctx:
        ctx.prec = 40
        return Decimal("1.0001") ** tick * Decimal(10) ** (decimals0 - decimals1)


def twap_tick(tick_cumulatives: tuple[int, int], seconds: int) -> int:
    """The arithmetic-mean tick between two `observe` tick cumulatives `seconds` apart, rounded to
    negative infinity as Uniswap's OracleLibrary.consult does."""
    return (tick_cumulatives[1] - tick_cumulatives[0]) // seconds


def sell_quote(amount_in: int, sqrt_price_x96: int, liquidity: int, fee: int, zero_for_one: bool) -> int | None:
    """What selling `amount_in` raw units of token0 (`zero_for_one`) or token1 would return, if the
    pool's in-range liquidity held over the whole move (SwapMath within one range: the fee comes off
    the input, the price moves along x*y=L**2). Beyond the current range the real liquidity may be
    more or less, so this is an estimate of depth, not a QuoterV2 quote. None when nothing is in
    range: no trade of any size would clear at the pool's price."""
    if liquidity == 0:
        return None
    net = amount_in * (FEE_UNITS - fee) // FEE_UNITS
    if zero_for_one:
        after = liquidity * Q96 * sqrt_price_x96 // (liquidity * Q96 + net * sqrt_price_x96)
        return liquidity * (sqrt_price_x96 - after) // Q96
    after = sqrt_price_x96 + net * Q96 // liquidity
    return liquidity * Q96 * (after - sqrt_price_x96) // after // sqrt_price_x96


def slippage_bps(amount_in: int, amount_out: int, sqrt_price_x96: int, zero_for_one: bool) -> Decimal:
    """How far below the spot value (amount_in at the pool's price) the quote is, in basis points."""
    spot = Decimal(amount_in) * Decimal(sqrt_price_x96) ** 2 / Decimal(Q96**2)
    if not zero_for_one:
        spot = Decimal(amount_in) * Decimal(Q96**2) / Decimal(sqrt_price_x96) ** 2
    return ((spot - amount_out) / spot * 10_000).quantize(Decimal("0.0001"))
